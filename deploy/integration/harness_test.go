package integration

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// The kvstore builds of the tests: the same code with two version
// strings, and a "build" that exits at start; and the CLI.
var binV1, binV2, binBroken, binCtl string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "deploy-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct {
		path    *string
		version string
	}{{&binV1, "v1.0.0-test"}, {&binV2, "v2.0.0-test"}} {
		*b.path = filepath.Join(dir, "kvstore-"+b.version)
		if err := kvtest.BuildKVStore(*b.path, "-ldflags", versionFlag(b.version)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	binCtl = filepath.Join(dir, "jangadactl")
	if err := kvtest.BuildJangadactl(binCtl); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binBroken = filepath.Join(dir, "kvstore-broken")
	script := "#!/bin/sh\necho 'kvstore-broken: refusing to start' >&2\nexit 3\n"
	if err := os.WriteFile(binBroken, []byte(script), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// versionFlag is the -ldflags value that sets kvstore's version string.
func versionFlag(version string) string {
	return "-X github.com/jangada-io/jangada/apps/kvstore.Version=" + version
}

// logTail is how many lines of each node's log a failed test shows.
const logTail = 30

// processLog names the log file of a process the test started.
type processLog struct{ name, path string }

// checkLogs fails the test if a process's log reports a data race (its
// binary built with -race: kvtest.RaceBinariesEnv) and, when the test
// failed, shows the last lines of every log.
func checkLogs(t *testing.T, logs []processLog) {
	t.Helper()
	for _, l := range logs {
		if race, err := kvtest.DataRace(l.path); err == nil && race != "" {
			t.Errorf("%s reported a data race:\n%s", l.name, race)
		}
	}
	if !t.Failed() {
		return
	}
	for _, l := range logs {
		if lines, err := kvtest.TailLines(l.path, logTail); err == nil {
			t.Logf("--- %s log (last %d lines) ---\n%s", l.name, len(lines), strings.Join(lines, "\n"))
		}
	}
}

const clusterSecret = "deploy-integration-secret-0123456789abcdef"

// quicDial dials the nodes' management endpoints over a QUIC transport of
// its own, authenticated by the cluster secret (what jangadactl does).
func quicDial(secret []byte) deploy.DialFunc {
	return func(ctx context.Context, endpoints []raftcore.Peer) (*mgmt.Client, func(), error) {
		var idBytes [8]byte
		_, _ = rand.Read(idBytes[:])
		key, err := transportquic.GenerateIdentity()
		if err != nil {
			return nil, nil, err
		}
		tr, err := transportquic.New(transportquic.Config{
			NodeID: 1<<62 | binary.BigEndian.Uint64(idBytes[:])>>2, Identity: key,
			ListenAddr: "127.0.0.1:0", ClusterSecret: secret,
		})
		if err != nil {
			return nil, nil, err
		}
		cl, err := mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: tr, MaxRetries: 3, RetryBackoff: 50 * time.Millisecond})
		if err != nil {
			_ = tr.Close()
			return nil, nil, err
		}
		return cl, func() { _ = tr.Close() }, nil
	}
}

// testCluster is a deployment config in a temporary directory, with
// nodes slots on free loopback ports.
type testCluster struct {
	dir   string
	path  string // the YAML file
	cfg   *deploy.Config
	local *deploy.Local
	http  []string // every slot's HTTP address
}

// newTestCluster writes a config of replicas voters and slots node
// entries running bin, and returns its local driver. Every step is logged
// with the time since the start.
func newTestCluster(t *testing.T, bin string, replicas, slots int) *testCluster {
	t.Helper()
	tc := &testCluster{dir: t.TempDir()}
	secretFile := filepath.Join(tc.dir, "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for id := 1; id <= slots; id++ {
		httpPort := kvtest.FreeTCPPort(t)
		nodes = append(nodes, fmt.Sprintf("  - {node_id: %d, hostname: 127.0.0.1, port: %d, http_port: %d, data_dir: data/node%d, resources: {max_memory_mb: 512}}",
			id, kvtest.FreeUDPPort(t), httpPort, id))
		tc.http = append(tc.http, fmt.Sprintf("127.0.0.1:%d", httpPort))
	}
	yaml := fmt.Sprintf(`cluster_name: itest
environment: testing
binary: %s
cluster_secret_file: cluster-secret
state_dir: state
replicas: %d
log_level: warn
extra_args: [--peer-idle-timeout, 1s]
update: {max_lag: 500, health_timeout_seconds: 40, stop_timeout_seconds: 20}
nodes:
%s
`, bin, replicas, strings.Join(nodes, "\n"))
	tc.path = filepath.Join(tc.dir, "cluster.yaml")
	if err := os.WriteFile(tc.path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := deploy.Load(tc.path)
	if err != nil {
		t.Fatal(err)
	}
	tc.cfg = cfg
	start := time.Now()
	tc.local, err = deploy.NewLocal(cfg, deploy.LocalConfig{
		Dial: quicDial([]byte(clusterSecret)),
		Progress: func(p deploy.Progress) {
			t.Logf("[%6.2fs] %s", time.Since(start).Seconds(), p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := tc.local.Down(ctx); err != nil {
			t.Errorf("down: %v", err)
		}
		var logs []processLog
		for id := 1; id <= slots; id++ {
			logs = append(logs, processLog{fmt.Sprintf("node %d", id), filepath.Join(tc.dir, "state", "logs", fmt.Sprintf("node%d.log", id))})
		}
		checkLogs(t, logs)
	})
	return tc
}
