package discovery_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/discovery"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

type kvNode = raftcore.Node[clustertest.KVCommand, clustertest.KVResult]

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// testNode is one in-process node: a mem transport, its discovery server
// and, once started, its raft node.
type testNode struct {
	t    testing.TB
	self raftcore.Peer
	tr   *transportmem.Transport
	srv  *discovery.Server
	node *kvNode
	kv   *clustertest.KV

	stopOnce sync.Once
}

// fastAutopilot promotes quickly, for tests.
var fastAutopilot = discovery.AutopilotConfig{StabilizationTime: 50 * time.Millisecond}

func newTestNode(t testing.TB, network *transportmem.Network, id uint64, addr string, secrets [][]byte) *testNode {
	t.Helper()
	n, err := tryNewTestNode(t, network, id, addr, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tryNewTestNode is newTestNode for goroutines other than the test's.
func tryNewTestNode(t testing.TB, network *transportmem.Network, id uint64, addr string, secrets [][]byte) (*testNode, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	self := raftcore.Peer{ID: id, Addr: addr, Key: pub}
	tr, err := network.Transport(self)
	if err != nil {
		return nil, err
	}
	srv, err := discovery.Mount(tr, discovery.ServerConfig{
		Self:           self,
		ClusterSecrets: secrets,
		// transport-mem proves no secret: every node of the network is
		// trusted to form and join, as secret holders are over QUIC.
		Authorized: func(raftcore.Stream) bool { return true },
		Autopilot:  fastAutopilot,
	})
	if err != nil {
		_ = tr.Close()
		return nil, err
	}
	n := &testNode{t: t, self: self, tr: tr, srv: srv}
	t.Cleanup(n.stop)
	return n, nil
}

// start runs the raft node with peers (bootstrapping them, or joining when
// join is set).
func (n *testNode) start(ctx context.Context, peers []raftcore.Peer, join bool) error {
	n.kv = clustertest.NewKV()
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: n.self.ID, Peers: peers, Join: join, Preset: raftcore.Testing,
		Transport: n.tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, n.kv, clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		return err
	}
	n.node = node
	n.srv.SetNode(node)
	return nil
}

func (n *testNode) stop() {
	n.stopOnce.Do(func() {
		_ = n.srv.Close()
		if n.node != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = n.node.Close(ctx)
			return
		}
		_ = n.tr.Close()
	})
}

// stopAll stops nodes at once (a leader's close hands leadership away,
// which one by one would take a while).
func stopAll(nodes []*testNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n != nil {
			wg.Go(n.stop)
		}
	}
	wg.Wait()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// voters returns the voters and learners in n's applied membership.
func roles(n *testNode) (voters, learners []uint64) {
	for _, m := range n.node.Status().Members {
		if m.Role == raftcore.MemberVoter {
			voters = append(voters, m.ID)
		} else {
			learners = append(learners, m.ID)
		}
	}
	return voters, learners
}

func wantRoles(n *testNode, voters, learners int) error {
	v, l := roles(n)
	if len(v) != voters || len(l) != learners {
		return fmt.Errorf("node %d sees voters %v, learners %v; want %d voters and %d learners", n.self.ID, v, l, voters, learners)
	}
	return nil
}
