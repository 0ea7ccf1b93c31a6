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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/raft-core/clustertest"
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
	for _, b := range []struct{ out, dir, pkg string }{
		{binary, "..", "./cmd/bank"},
		{jangadactl, filepath.Join("..", "..", "..", "mgmt", "cmd", "jangadactl"), "."},
	} {
		build := exec.Command("go", "build", "-o", b.out, b.pkg)
		build.Dir = b.dir
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			return 1
		}
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

const clusterSecret = "bank-e2e-cluster-secret-0123456789abcdef"

// node is one bank process.
type node struct {
	id       uint64
	dataDir  string
	raftAddr string
	httpAddr string
	logPath  string
	client   *bank.Client

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // SIGSTOPped
}

// cluster is a set of bank processes on loopback, authenticated by a
// cluster secret.
type cluster struct {
	t      testing.TB
	store  string
	peers  string
	secret string
	dir    string
	http   *http.Client
	mu     sync.Mutex
	nodes  []*node
}

func newCluster(t testing.TB, n int, store string) *cluster {
	t.Helper()
	httpTransport := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &cluster{t: t, store: store, dir: t.TempDir(), http: &http.Client{Transport: httpTransport}}
	c.secret = filepath.Join(c.dir, "cluster-secret")
	if err := os.WriteFile(c.secret, []byte(clusterSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for id := uint64(1); id <= uint64(n); id++ {
		nd := c.newNode(id)
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
	for _, nd := range c.nodes {
		c.start(nd)
	}
	return c
}

func (c *cluster) newNode(id uint64) *node {
	c.t.Helper()
	nd := &node{
		id:       id,
		dataDir:  filepath.Join(c.dir, fmt.Sprintf("node%d", id)),
		raftAddr: freeAddr(c.t, "udp"),
		httpAddr: freeAddr(c.t, "tcp"),
		logPath:  filepath.Join(c.dir, fmt.Sprintf("node%d.log", id)),
	}
	cl, err := bank.NewClient(bank.ClientConfig{Endpoints: []string{nd.httpAddr}, HTTPClient: c.http})
	if err != nil {
		c.t.Fatal(err)
	}
	nd.client = cl
	return nd
}

func freeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// node returns node id.
func (c *cluster) node(id uint64) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	c.t.Fatalf("no node %d", id)
	return nil
}

// endpoints returns the HTTP addresses of the cluster's first three nodes.
func (c *cluster) endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, nd := range c.nodes[:3] {
		out = append(out, nd.httpAddr)
	}
	return out
}

// start starts nd's process with extra flags and waits for its HTTP API.
func (c *cluster) start(nd *node, extra ...string) {
	c.t.Helper()
	logFile, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"serve",
		"--id", fmt.Sprint(nd.id),
		"--data-dir", nd.dataDir,
		"--listen", nd.raftAddr,
		"--http", nd.httpAddr,
		"--peers", c.peers,
		"--store", c.store,
		"--preset", "testing",
		"--log-level", "warn",
		"--cluster-secret-file", c.secret,
	}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		c.t.Fatalf("start node %d: %v", nd.id, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	nd.mu.Lock()
	nd.cmd, nd.done, nd.stopped = cmd, done, false
	nd.mu.Unlock()
	clustertest.WaitFor(c.t, fmt.Sprintf("node %d's HTTP API", nd.id), 30*time.Second, func() bool {
		select {
		case <-done:
			c.t.Fatalf("node %d exited at start", nd.id)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nd.client.Status(ctx)
		return err == nil
	})
}

// signal sends sig to node id's process.
func (c *cluster) signal(id uint64, sig syscall.Signal) {
	nd := c.node(id)
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		_ = nd.cmd.Process.Signal(sig)
		nd.stopped = sig == syscall.SIGSTOP
	}
}

// kill stops node id with SIGKILL and waits for it to exit.
func (c *cluster) kill(id uint64) {
	c.t.Helper()
	nd := c.node(id)
	c.signal(id, syscall.SIGKILL)
	select {
	case <-nd.done:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("node %d did not exit after SIGKILL", id)
	}
}

// shutdown stops every process gracefully, killing those that do not stop
// in time.
func (c *cluster) shutdown() {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	for _, nd := range nodes {
		c.signal(nd.id, syscall.SIGCONT)
		c.signal(nd.id, syscall.SIGTERM)
	}
	for _, nd := range nodes {
		if nd.done == nil {
			continue
		}
		select {
		case <-nd.done:
		case <-time.After(20 * time.Second):
			c.signal(nd.id, syscall.SIGKILL)
			<-nd.done
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
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		c.t.Logf("--- node %d log (last %d lines) ---\n%s", nd.id, len(lines), strings.Join(lines, "\n"))
	}
}

// leader returns the leader the running nodes agree on.
func (c *cluster) leader(timeout time.Duration) uint64 {
	c.t.Helper()
	var leader uint64
	clustertest.WaitFor(c.t, "an agreed leader", timeout, func() bool {
		leader = 0
		for _, ep := range c.endpoints() {
			nd := c.byHTTP(ep)
			select {
			case <-nd.done:
				continue
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := nd.client.Status(ctx)
			cancel()
			if err != nil || st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return false
			}
			leader = st.Leader
		}
		return leader != 0
	})
	return leader
}

func (c *cluster) byHTTP(addr string) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if nd.httpAddr == addr {
			return nd
		}
	}
	return nil
}

// ctl runs jangadactl against the cluster with the secret from a file.
func (c *cluster) ctl(args ...string) (string, error) {
	c.mu.Lock()
	var raftAddrs []string
	for _, nd := range c.nodes[:3] {
		raftAddrs = append(raftAddrs, nd.raftAddr)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, jangadactl, append([]string{"--timeout", "30s"}, args...)...)
	cmd.Env = append(os.Environ(), "JANGADACTL_ENDPOINTS="+strings.Join(raftAddrs, ","), "JANGADACTL_CLUSTER_SECRET_FILE="+c.secret)
	out, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		err = fmt.Errorf("jangadactl %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
	}
	return string(out), err
}
