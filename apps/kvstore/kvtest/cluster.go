package kvtest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// Timeouts of process steps: generous, since CI machines are shared and
// slow, and binaries may run under the race detector.
const (
	// StartTimeout bounds a node's start until its HTTP API answers.
	StartTimeout = 30 * time.Second
	// KillTimeout bounds a node's exit after SIGKILL.
	KillTimeout = 20 * time.Second
	// StopTimeout bounds a graceful stop after SIGTERM.
	StopTimeout = 30 * time.Second
	// logTail is how many lines of each node's log a failed test shows.
	logTail = 40
)

// Node is one process of a Cluster.
type Node struct {
	ID       uint64
	DataDir  string
	RaftAddr string
	HTTPAddr string
	LogPath  string
	// Client is a kvstore client of the node's HTTP API only.
	Client *kvstore.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exited
	err  error         // its exit status, once done
}

// Done is closed when the node's current process has exited; nil before
// its first start.
func (nd *Node) Done() <-chan struct{} {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.done
}

// Running reports whether the node's process is alive.
func (nd *Node) Running() bool {
	done := nd.Done()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the node's process, if it was started.
func (nd *Node) Signal(sig syscall.Signal) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		_ = nd.cmd.Process.Signal(sig)
	}
}

// Cluster is a set of processes of one binary on loopback. Its fields may
// be changed between starts (a test that pins keys rewrites Peers); Nodes
// grows with AddNode.
type Cluster struct {
	T testing.TB
	// Bin is the binary; each node runs "Bin serve" with the flags below.
	Bin   string
	Store string
	// Peers is --peers: "id=addr,...".
	Peers string
	// SecretFile holds the cluster secret (--cluster-secret-file); "" when
	// the peers pin keys instead.
	SecretFile string
	// Extra flags every node starts with.
	Extra []string
	// NodeArgs, when set, returns flags one node starts with.
	NodeArgs func(*Node) []string
	// Dir holds the nodes' data directories and logs.
	Dir  string
	HTTP *http.Client

	mu    sync.Mutex
	nodes []*Node
}

// ClusterSecret is the secret of every Cluster made by NewCluster.
const ClusterSecret = "e2e-cluster-secret-0123456789abcdef"

// NewCluster prepares n nodes of bin with free ports, authenticated by
// ClusterSecret, and starts them all.
func NewCluster(t testing.TB, bin string, n int, store string, extra ...string) *Cluster {
	t.Helper()
	c := PrepareCluster(t, bin, n, store, extra...)
	c.SecretFile = filepath.Join(c.Dir, "cluster-secret")
	if err := os.WriteFile(c.SecretFile, []byte(ClusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.Nodes() {
		c.Start(nd.ID)
	}
	return c
}

// PrepareCluster picks n nodes' ports and directories; nothing runs yet and
// there is no secret. The test's cleanup stops every node, fails the test
// if a node logged a data race, and shows the logs' tails when it failed.
func PrepareCluster(t testing.TB, bin string, n int, store string, extra ...string) *Cluster {
	t.Helper()
	httpTransport := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &Cluster{T: t, Bin: bin, Store: store, Extra: extra, Dir: t.TempDir(), HTTP: &http.Client{Transport: httpTransport}}
	var peers []string
	for id := uint64(1); id <= uint64(n); id++ {
		nd := c.AddNode(c.Dir, id)
		peers = append(peers, fmt.Sprintf("%d=%s", id, nd.RaftAddr))
	}
	c.Peers = strings.Join(peers, ",")
	t.Cleanup(func() {
		c.Shutdown()
		httpTransport.CloseIdleConnections()
		if t.Failed() {
			c.DumpLogs()
		}
	})
	return c
}

// FreeUDPAddr returns a loopback UDP address free a moment ago.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// FreeTCPAddr returns a loopback TCP address free a moment ago.
func FreeTCPAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// NewNode describes node id with its data and log under dir, on free
// loopback ports, and a client of its HTTP API. It is not part of the
// cluster until added (AddNode).
func (c *Cluster) NewNode(dir string, id uint64) *Node {
	c.T.Helper()
	nd := &Node{
		ID:       id,
		DataDir:  filepath.Join(dir, fmt.Sprintf("node%d", id)),
		RaftAddr: FreeUDPAddr(c.T),
		HTTPAddr: FreeTCPAddr(c.T),
		LogPath:  filepath.Join(dir, fmt.Sprintf("node%d.log", id)),
	}
	cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{nd.HTTPAddr}, HTTPClient: c.HTTP})
	if err != nil {
		c.T.Fatal(err)
	}
	nd.Client = cl
	return nd
}

// AddNode describes node id (NewNode) and adds it to the cluster: Node,
// Nodes and the cleanup see it. It does not start it nor change Peers.
func (c *Cluster) AddNode(dir string, id uint64) *Node {
	c.T.Helper()
	nd := c.NewNode(dir, id)
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	return nd
}

// Nodes returns the cluster's nodes in the order they were added.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// Node returns node id; the test fails if there is none.
func (c *Cluster) Node(id uint64) *Node {
	c.T.Helper()
	for _, nd := range c.Nodes() {
		if nd.ID == id {
			return nd
		}
	}
	c.T.Fatalf("no node %d in the cluster", id)
	return nil
}

// Endpoints returns every node's HTTP address.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, nd := range c.Nodes() {
		out = append(out, nd.HTTPAddr)
	}
	return out
}

// RaftAddrs returns every node's raft (and management) address.
func (c *Cluster) RaftAddrs() []string {
	var out []string
	for _, nd := range c.Nodes() {
		out = append(out, nd.RaftAddr)
	}
	return out
}

// Start starts (or restarts) node id's process with the cluster's flags,
// NodeArgs and extra, and waits until its HTTP API answers.
func (c *Cluster) Start(id uint64, extra ...string) {
	c.T.Helper()
	nd := c.Node(id)
	logFile, err := os.OpenFile(nd.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.T.Fatal(err)
	}
	args := append([]string{"serve",
		"--id", fmt.Sprint(id),
		"--data-dir", nd.DataDir,
		"--listen", nd.RaftAddr,
		"--http", nd.HTTPAddr,
		"--peers", c.Peers,
		"--store", c.Store,
		"--preset", "testing",
		"--log-level", "warn",
	}, slices.Concat(c.Extra, extra)...)
	if c.SecretFile != "" {
		args = append(args, "--cluster-secret-file", c.SecretFile)
	}
	if c.NodeArgs != nil {
		args = append(args, c.NodeArgs(nd)...)
	}
	cmd := exec.Command(c.Bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.T.Fatalf("start node %d: %v", id, err)
	}
	done := make(chan struct{})
	nd.mu.Lock()
	nd.cmd, nd.done, nd.err = cmd, done, nil
	nd.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logFile.Close()
		nd.mu.Lock()
		nd.err = err
		nd.mu.Unlock()
		close(done)
	}()
	clustertest.WaitFor(c.T, fmt.Sprintf("node %d's HTTP API", id), StartTimeout, func() bool {
		select {
		case <-done:
			c.T.Fatalf("node %d exited at start: %v", id, c.exitErr(nd))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nd.Client.Status(ctx)
		return err == nil
	})
}

func (c *Cluster) exitErr(nd *Node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.err
}

// Running reports whether node id's process is alive.
func (c *Cluster) Running(id uint64) bool { return c.Node(id).Running() }

// Signal sends sig to node id's process.
func (c *Cluster) Signal(id uint64, sig syscall.Signal) { c.Node(id).Signal(sig) }

// Kill stops node id with SIGKILL (no hand-off, no flush) and waits for it
// to exit.
func (c *Cluster) Kill(id uint64) {
	c.T.Helper()
	nd := c.Node(id)
	nd.Signal(syscall.SIGKILL)
	c.waitExit(nd, KillTimeout)
}

// Terminate stops node id with SIGTERM and returns its exit status.
func (c *Cluster) Terminate(id uint64) error {
	c.T.Helper()
	nd := c.Node(id)
	nd.Signal(syscall.SIGTERM)
	c.waitExit(nd, StopTimeout)
	return c.exitErr(nd)
}

func (c *Cluster) waitExit(nd *Node, timeout time.Duration) {
	c.T.Helper()
	done := nd.Done()
	if done == nil {
		c.T.Fatalf("node %d was never started", nd.ID)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		nd.Signal(syscall.SIGKILL)
		<-done
		c.T.Fatalf("node %d did not exit within %v", nd.ID, timeout)
	}
}

// Shutdown stops every running process gracefully (resuming a stopped
// one first), kills those that do not stop in time, and fails the test
// if a node's log reports a data race.
func (c *Cluster) Shutdown() {
	nodes := c.Nodes()
	for _, nd := range nodes {
		if nd.Running() {
			nd.Signal(syscall.SIGCONT)
			nd.Signal(syscall.SIGTERM)
		}
	}
	for _, nd := range nodes {
		done := nd.Done()
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-time.After(StopTimeout):
			nd.Signal(syscall.SIGKILL)
			<-done
		}
	}
	for _, nd := range nodes {
		if log, err := os.ReadFile(nd.LogPath); err == nil {
			if i := strings.Index(string(log), "WARNING: DATA RACE"); i >= 0 {
				c.T.Errorf("node %d reported a data race:\n%s", nd.ID, string(log[i:min(len(log), i+4000)]))
			}
		}
	}
}

// DumpLogs logs the last lines of every node's log.
func (c *Cluster) DumpLogs() {
	for _, nd := range c.Nodes() {
		if lines, err := TailLines(nd.LogPath, logTail); err == nil {
			c.T.Logf("--- node %d log (last %d lines) ---\n%s", nd.ID, len(lines), strings.Join(lines, "\n"))
		}
	}
}

// TailLines returns the last n lines of the file at path.
func TailLines(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}

// Status returns node id's status, or an error.
func (c *Cluster) Status(id uint64) (kvstore.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Node(id).Client.Status(ctx)
}

// WaitLeader waits until every running node names the same running leader
// and returns it.
func (c *Cluster) WaitLeader(timeout time.Duration) uint64 {
	c.T.Helper()
	return c.WaitLeaderAmong(timeout, c.Nodes)
}

// WaitLeaderAmong is WaitLeader over the running nodes that nodes returns
// at each check (e.g. the voters, not a learner being added).
func (c *Cluster) WaitLeaderAmong(timeout time.Duration, nodes func() []*Node) uint64 {
	c.T.Helper()
	var leader uint64
	clustertest.WaitFor(c.T, "an agreed leader", timeout, func() bool {
		leader = 0
		for _, nd := range nodes() {
			if !nd.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := nd.Client.Status(ctx)
			cancel()
			if err != nil || st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return leader != 0 && c.Running(leader)
	})
	return leader
}

// WaitCaughtUp waits until node id has applied at least index.
func (c *Cluster) WaitCaughtUp(id, index uint64, timeout time.Duration) {
	c.T.Helper()
	clustertest.WaitFor(c.T, fmt.Sprintf("node %d to apply index %d", id, index), timeout, func() bool {
		st, err := c.Status(id)
		return err == nil && st.AppliedIndex >= index
	})
}
