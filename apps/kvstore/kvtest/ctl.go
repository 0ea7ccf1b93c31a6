package kvtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Ctl runs jangadactl against a cluster's nodes with the cluster secret
// from a file (never on the command line).
type Ctl struct {
	T   testing.TB
	Bin string
	// Endpoints are the nodes' raft addresses, comma-separated.
	Endpoints  string
	SecretFile string
}

// ctlTimeout bounds one jangadactl run; the CLI itself is given 30s.
const ctlTimeout = 40 * time.Second

// Run runs jangadactl with args and returns its standard output; an error
// carries its standard error.
func (c Ctl) Run(args ...string) (string, error) {
	c.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, append([]string{"--timeout", "30s"}, args...)...)
	cmd.Env = append(os.Environ(), "JANGADACTL_ENDPOINTS="+c.Endpoints, "JANGADACTL_CLUSTER_SECRET_FILE="+c.SecretFile)
	out, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		err = fmt.Errorf("jangadactl %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	return string(out), err
}

// Must is Run that fails the test on an error and logs the output.
func (c Ctl) Must(args ...string) string {
	c.T.Helper()
	out, err := c.Run(args...)
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Logf("jangadactl %s\n%s", strings.Join(args, " "), out)
	return out
}
