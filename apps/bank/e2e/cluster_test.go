package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
)

// binary is the bank command and jangadactl the management CLI, built by
// TestMain.
var binary, jangadactl string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bank-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "bank")
	jangadactl = filepath.Join(dir, "jangadactl")
	if err := kvtest.Build(binary, filepath.Join("apps", "bank"), "./cmd/bank"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := kvtest.BuildJangadactl(jangadactl); err != nil {
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

// cluster is a set of bank processes on loopback, authenticated by a
// cluster secret; its first three nodes are the voters.
type cluster struct {
	*kvtest.Cluster
	mu sync.Mutex // guards the faults' random choices
}

func newCluster(t testing.TB, n int, store string) *cluster {
	t.Helper()
	c := &cluster{Cluster: kvtest.PrepareCluster(t, binary, n, store)}
	c.SecretFile = filepath.Join(c.Dir, "cluster-secret")
	if err := os.WriteFile(c.SecretFile, []byte(kvtest.ClusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.NodeArgs = func(nd *kvtest.Node) []string { return []string{"--fault-control", faultsFile(c.Cluster, nd.ID)} }
	for _, nd := range c.Nodes() {
		c.Start(nd.ID)
	}
	return c
}

// faultsFile is node id's fault control file (--fault-control): the
// partition fault writes it.
func faultsFile(c *kvtest.Cluster, id uint64) string {
	return filepath.Join(c.Dir, fmt.Sprintf("node%d.faults", id))
}

// voters returns the cluster's first three nodes.
func (c *cluster) voters() []*kvtest.Node { return c.Nodes()[:3] }

// endpoints returns the HTTP addresses of the voters.
func (c *cluster) endpoints() []string {
	var out []string
	for _, nd := range c.voters() {
		out = append(out, nd.HTTPAddr)
	}
	return out
}

// leader returns the leader the running voters agree on.
func (c *cluster) leader(timeout time.Duration) uint64 {
	c.T.Helper()
	return c.WaitLeaderAmong(timeout, c.voters)
}

// ctl runs jangadactl against the voters with the secret from a file.
func (c *cluster) ctl(args ...string) (string, error) {
	var raftAddrs []string
	for _, nd := range c.voters() {
		raftAddrs = append(raftAddrs, nd.RaftAddr)
	}
	return kvtest.Ctl{T: c.T, Bin: jangadactl, Endpoints: strings.Join(raftAddrs, ","), SecretFile: c.SecretFile}.Run(args...)
}
