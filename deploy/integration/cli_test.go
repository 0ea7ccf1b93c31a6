package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/deploy"
)

// ctl runs jangadactl deploy with the test cluster's config and returns
// its output and exit code.
func (tc *testCluster) ctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binCtl, append([]string{"deploy", "-f", tc.path}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("jangadactl deploy %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("jangadactl deploy %s: exit %d\n%s", strings.Join(args, " "), code, out)
	return string(out), code
}

// TestCommandLine drives a cluster with jangadactl deploy, one process per
// command: the nodes outlive the command that started them, an update to
// a build that cannot start exits 7, and the rollback restores the
// cluster.
func TestCommandLine(t *testing.T) {
	tc := newTestCluster(t, binV1, 3, 3)
	if _, code := tc.ctl(t, "up"); code != 0 {
		t.Fatalf("up: exit %d", code)
	}
	// jangadactl has exited: the nodes still run.
	out, code := tc.ctl(t, "status", "--json")
	var st deploy.ClusterStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status: exit %d, %q", code, out)
	}
	for _, n := range st.Nodes {
		if !n.Running || n.Version != "v1.0.0-test" || n.Role == "" {
			t.Fatalf("after up: node %+v, want it running v1.0.0-test with a role", n)
		}
	}
	if _, code := tc.ctl(t, "update", "--binary", binV2); code != 0 {
		t.Fatalf("update: exit %d", code)
	}
	tc.wantVersions(t, "v2.0.0-test", 3)
	out, code = tc.ctl(t, "update", "--binary", binBroken)
	if code != 7 || !strings.Contains(out, "health gate failed") || !strings.Contains(out, "kvstore-broken: refusing to start") {
		t.Fatalf("update to a build that exits at start: exit %d, want 7 with the gate's report and the node's log", code)
	}
	tc.wantVersions(t, "v2.0.0-test", 2)
	if _, code := tc.ctl(t, "update", "--rollback"); code != 0 {
		t.Fatalf("rollback: exit %d", code)
	}
	tc.wantVersions(t, "v2.0.0-test", 3)
	if _, code := tc.ctl(t, "down"); code != 0 {
		t.Fatalf("down: exit %d", code)
	}
	tc.wantVersions(t, "", 0)
}
