package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// binary is the kvstore command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kvstore-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kvstore")
	build := exec.Command("go", buildArgs(binary, "./cmd/kvstore")...)
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kvstore:", err)
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

// RaceBinariesEnv, set to 1, builds the binaries the tests run with the
// race detector (CI sets it); each node's log is then checked for a data
// race report when the cluster shuts down.
const RaceBinariesEnv = "JANGADA_RACE_BINARIES"

// buildArgs is the go command line that builds pkg into out.
func buildArgs(out, pkg string) []string {
	args := []string{"build"}
	if os.Getenv(RaceBinariesEnv) == "1" {
		args = append(args, "-race")
	}
	return append(args, "-o", out, pkg)
}

const clusterSecret = "e2e-cluster-secret-0123456789abcdef"

// node is one kvstore process of a cluster.
type node struct {
	id       uint64
	dataDir  string
	raftAddr string
	httpAddr string
	logPath  string
	client   *kvstore.Client

	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // its exit status, once done
}

// cluster is a set of kvstore processes on loopback.
type cluster struct {
	t      testing.TB
	store  string
	peers  string
	secret string // file of the cluster secret; "" when peers pin keys
	extra  []string
	dir    string // holds the nodes' data directories and logs
	nodes  []*node
	http   *http.Client
}

// newCluster prepares n nodes with free ports, authenticated by a cluster
// secret, and starts them all.
func newCluster(t testing.TB, n int, store string, extra ...string) *cluster {
	t.Helper()
	c := prepareCluster(t, n, store, extra...)
	c.secret = filepath.Join(c.dir, "cluster-secret")
	if err := os.WriteFile(c.secret, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		c.start(nd.id)
	}
	return c
}

// prepareCluster picks the nodes' ports and directories; nothing runs yet.
func prepareCluster(t testing.TB, n int, store string, extra ...string) *cluster {
	t.Helper()
	httpTransport := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &cluster{t: t, store: store, extra: extra, http: &http.Client{Transport: httpTransport}}
	dir := t.TempDir()
	c.dir = dir
	var peers []string
	for id := uint64(1); id <= uint64(n); id++ {
		nd := c.newNode(dir, id)
		c.nodes = append(c.nodes, nd)
		peers = append(peers, fmt.Sprintf("%d=%s", id, nd.raftAddr))
	}
	c.peers = strings.Join(peers, ",")
	t.Cleanup(func() {
		c.shutdown()
		httpTransport.CloseIdleConnections()
		if t.Failed() {
			c.dumpLogs()
		}
	})
	return c
}

func freeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

func freeTCPAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (c *cluster) node(id uint64) *node { return c.nodes[id-1] }

// endpoints returns every node's HTTP address.
func (c *cluster) endpoints() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.httpAddr)
	}
	return out
}

// start starts (or restarts) node id's process and waits until its HTTP
// API answers.
// newNode describes node id with its data and log under dir, on free
// loopback ports, and a client of its HTTP API.
func (c *cluster) newNode(dir string, id uint64) *node {
	c.t.Helper()
	nd := &node{
		id:       id,
		dataDir:  filepath.Join(dir, fmt.Sprintf("node%d", id)),
		raftAddr: freeUDPAddr(c.t),
		httpAddr: freeTCPAddr(c.t),
		logPath:  filepath.Join(dir, fmt.Sprintf("node%d.log", id)),
	}
	cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{nd.httpAddr}, HTTPClient: c.http})
	if err != nil {
		c.t.Fatal(err)
	}
	nd.client = cl
	return nd
}

// start starts node id's process with the cluster's flags and extra, and
// waits for its HTTP API.
func (c *cluster) start(id uint64, extra ...string) {
	c.t.Helper()
	nd := c.node(id)
	logFile, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"serve",
		"--id", fmt.Sprint(id),
		"--data-dir", nd.dataDir,
		"--listen", nd.raftAddr,
		"--http", nd.httpAddr,
		"--peers", c.peers,
		"--store", c.store,
		"--preset", "testing",
		"--log-level", "warn",
	}, slices.Concat(c.extra, extra)...)
	if c.secret != "" {
		args = append(args, "--cluster-secret-file", c.secret)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.t.Fatalf("start node %d: %v", id, err)
	}
	nd.cmd, nd.done, nd.err = cmd, make(chan struct{}), nil
	go func() {
		nd.err = cmd.Wait()
		logFile.Close()
		close(nd.done)
	}()
	clustertest.WaitFor(c.t, fmt.Sprintf("node %d's HTTP API", id), 20*time.Second, func() bool {
		select {
		case <-nd.done:
			c.t.Fatalf("node %d exited at start: %v", id, nd.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nd.client.Status(ctx)
		return err == nil
	})
}

// running reports whether node id's process is alive.
func (c *cluster) running(id uint64) bool {
	nd := c.node(id)
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.done:
		return false
	default:
		return true
	}
}

// kill stops node id with SIGKILL: no hand-off, no flush.
func (c *cluster) kill(id uint64) {
	c.t.Helper()
	nd := c.node(id)
	_ = nd.cmd.Process.Kill()
	c.waitExit(nd, 10*time.Second)
}

// terminate stops node id with SIGTERM and returns its exit status.
func (c *cluster) terminate(id uint64) error {
	c.t.Helper()
	nd := c.node(id)
	_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	c.waitExit(nd, 30*time.Second)
	return nd.err
}

func (c *cluster) waitExit(nd *node, timeout time.Duration) {
	c.t.Helper()
	select {
	case <-nd.done:
	case <-time.After(timeout):
		_ = nd.cmd.Process.Kill()
		<-nd.done
		c.t.Fatalf("node %d did not exit within %v", nd.id, timeout)
	}
}

// shutdown stops every running process gracefully, killing those that
// do not stop in time.
func (c *cluster) shutdown() {
	for _, nd := range c.nodes {
		if nd.cmd != nil && c.running(nd.id) {
			_ = nd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, nd := range c.nodes {
		if nd.cmd == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-time.After(20 * time.Second):
			_ = nd.cmd.Process.Kill()
			<-nd.done
		}
	}
	for _, nd := range c.nodes {
		if log, err := os.ReadFile(nd.logPath); err == nil {
			if i := strings.Index(string(log), "WARNING: DATA RACE"); i >= 0 {
				c.t.Errorf("node %d reported a data race:\n%s", nd.id, string(log[i:min(len(log), i+4000)]))
			}
		}
	}
}

func (c *cluster) dumpLogs() {
	for _, nd := range c.nodes {
		f, err := os.Open(nd.logPath)
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		c.t.Logf("--- node %d log (last %d lines) ---\n%s", nd.id, len(lines), strings.Join(lines, "\n"))
	}
}

// status returns node id's status, or an error.
func (c *cluster) status(id uint64) (kvstore.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.node(id).client.Status(ctx)
}

// waitLeader waits until every running node names the same running leader
// and returns it.
func (c *cluster) waitLeader(timeout time.Duration) uint64 {
	c.t.Helper()
	var leader uint64
	clustertest.WaitFor(c.t, "an agreed leader", timeout, func() bool {
		leader = 0
		for _, nd := range c.nodes {
			if !c.running(nd.id) {
				continue
			}
			st, err := c.status(nd.id)
			if err != nil || st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return leader != 0 && c.running(leader)
	})
	return leader
}

// waitCaughtUp waits until node id has applied at least index.
func (c *cluster) waitCaughtUp(id, index uint64, timeout time.Duration) {
	c.t.Helper()
	clustertest.WaitFor(c.t, fmt.Sprintf("node %d to apply index %d", id, index), timeout, func() bool {
		st, err := c.status(id)
		return err == nil && st.AppliedIndex >= index
	})
}

// isUnavailable reports whether err means "try again": a connection error
// or a 503.
func isUnavailable(err error) bool {
	var apiErr *kvstore.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusGatewayTimeout
	}
	return err != nil
}
