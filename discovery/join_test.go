package discovery_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/discovery"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// oneNodeCluster starts node 1 alone, leading.
func oneNodeCluster(t *testing.T, ctx context.Context, network *transportmem.Network) *testNode {
	t.Helper()
	n1 := newTestNode(t, network, 1, "node-1", [][]byte{testSecret})
	if err := n1.start(ctx, []raftcore.Peer{n1.self}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return n1
}

func ticket(t testing.TB, secret []byte, id uint64, role string, ttl time.Duration) string {
	t.Helper()
	tk, err := discovery.NewTicket(secret, id, role, ttl, []string{"node-1", "127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tk.String()
}

// joinWithTicket joins n with tk, starts it and returns the join error.
func joinWithTicket(ctx context.Context, n *testNode, tk string) error {
	members, err := discovery.Join(ctx, discovery.JoinConfig{Transport: n.tr, Self: n.self, Ticket: tk, RetryInterval: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	return n.start(ctx, members, true)
}

func TestVoterTicketJoinsAndIsPromotedLearnerTicketStaysLearner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	n1 := oneNodeCluster(t, ctx, network)

	n2 := newTestNode(t, network, 2, "node-2", [][]byte{testSecret})
	voterTicket := ticket(t, testSecret, 2, discovery.RoleVoter, time.Hour)
	if err := joinWithTicket(ctx, n2, voterTicket); err != nil {
		t.Fatalf("join with a voter ticket: %v", err)
	}
	if err := discovery.Promote(ctx, discovery.PromoteConfig{Transport: n2.tr, Node: n2.node, Ticket: voterTicket, RetryInterval: 20 * time.Millisecond}); err != nil {
		t.Fatalf("promotion: %v", err)
	}
	waitFor(t, 20*time.Second, "node 1 sees node 2 as a voter", func() error { return wantRoles(n1, 2, 0) })

	n3 := newTestNode(t, network, 3, "node-3", [][]byte{testSecret})
	learnerTicket := ticket(t, testSecret, 3, discovery.RoleLearner, time.Hour)
	if err := joinWithTicket(ctx, n3, learnerTicket); err != nil {
		t.Fatalf("join with a learner ticket: %v", err)
	}
	err := discovery.Promote(ctx, discovery.PromoteConfig{Transport: n3.tr, Node: n3.node, Ticket: learnerTicket, RetryInterval: 20 * time.Millisecond})
	if !errors.Is(err, discovery.ErrUnauthorized) {
		t.Fatalf("promotion with a learner ticket: got %v, want ErrUnauthorized", err)
	}
	waitFor(t, 20*time.Second, "node 3 is a learner", func() error { return wantRoles(n1, 2, 1) })

	// Writes commit through the grown cluster and reach the learner.
	if _, err := n2.node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "node 3 applies the write", func() error {
		return n3.node.ReadStale(func() error {
			if n3.kv.Data["k"] != "v" {
				return errors.New("not yet")
			}
			return nil
		})
	})
}

func TestTicketsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	n1 := oneNodeCluster(t, ctx, network)

	// A ticket used by node 2 is spent: node "2-again" (another key, another
	// address) is refused.
	used := ticket(t, testSecret, 2, discovery.RoleLearner, time.Hour)
	n2 := newTestNode(t, network, 2, "node-2", [][]byte{testSecret})
	if err := joinWithTicket(ctx, n2, used); err != nil {
		t.Fatal(err)
	}

	expired, err := discovery.NewTicket(testSecret, 5, discovery.RoleVoter, time.Second, []string{"node-1"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	foreign := ticket(t, []byte("another cluster's secret, 32 bytes or more"), 6, discovery.RoleVoter, time.Hour)
	forged := forge(t, ticket(t, testSecret, 7, discovery.RoleLearner, time.Hour))

	for _, tc := range []struct {
		name   string
		id     uint64
		ticket string
		want   error
	}{
		{"used", 2, used, discovery.ErrTicketUsed},
		{"expired", 5, expired.String(), discovery.ErrTicketExpired},
		{"foreign", 6, foreign, discovery.ErrTicketForeign},
		{"forged", 107, forged, discovery.ErrTicketForged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNode(t, network, tc.id, "node-"+tc.name, [][]byte{testSecret})
			_, err := discovery.Join(ctx, discovery.JoinConfig{Transport: n.tr, Self: n.self, Ticket: tc.ticket, RetryInterval: 20 * time.Millisecond})
			if !errors.Is(err, tc.want) {
				t.Fatalf("join with a %s ticket: got %v, want %v", tc.name, err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
	if err := wantRoles(n1, 1, 1); err != nil {
		t.Fatal(err)
	}
}

// forge changes the node id a ticket grants, keeping its signature.
func forge(t *testing.T, s string) string {
	t.Helper()
	tk, err := discovery.ParseTicket(s)
	if err != nil {
		t.Fatal(err)
	}
	other, err := discovery.NewTicket(testSecret, tk.NodeID+100, tk.Role, time.Hour, tk.Addrs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The body of one ticket with the signature of another.
	body, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(other.String(), "jt1"))
	sig, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, "jt1"))
	copy(body[len(body)-16:], sig[len(sig)-16:])
	return "jt1" + base64.RawURLEncoding.EncodeToString(body)
}

// memPromises is a PromiseStore that outlives the servers using it.
type memPromises struct {
	mu      sync.Mutex
	decider uint64
	set     []raftcore.Peer
}

func (m *memPromises) Load() (uint64, []raftcore.Peer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.decider, m.set, nil
}

func (m *memPromises) Save(d uint64, set []raftcore.Peer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decider, m.set = d, set
	return nil
}

// TestAPromiseSurvivesARestart: a node that promised a decider and restarts
// still refuses to promise another one, so a formation it took part in
// cannot be doubled by a second decider.
func TestAPromiseSurvivesARestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	store := &memPromises{}
	mount := func(tr raftcore.StreamTransport) *discovery.Server {
		srv, err := discovery.Mount(tr, discovery.ServerConfig{Self: raftcore.Peer{ID: 3, Addr: "n3"}, Promises: store,
			Authorized: func(raftcore.Stream) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		return srv
	}
	tr3, _ := network.Transport(raftcore.Peer{ID: 3, Addr: "n3"})
	t.Cleanup(func() { _ = tr3.Close() })
	mount(tr3)
	deciders := map[uint64]*testNode{}
	for _, id := range []uint64{1, 2} {
		deciders[id] = newTestNode(t, network, id, fmt.Sprintf("n%d", id), nil)
	}
	// Decider 1 sees only 1 and 3 (expect 2): it takes 3's promise and then
	// stops, as if it died before forming.
	formCtx, stopForming := context.WithCancel(ctx)
	formed := make(chan struct{})
	go func() {
		defer close(formed)
		_, _ = discovery.Form(formCtx, discovery.FormConfig{Transport: deciders[1].tr, Server: deciders[1].srv,
			Source: discovery.StaticSource{{Addr: "n3"}}, Expect: 2, ProbeInterval: 10 * time.Millisecond})
	}()
	waitFor(t, 10*time.Second, "node 3 promised node 1", func() error {
		if d, _, _ := store.Load(); d != 1 {
			return fmt.Errorf("promise to %d", d)
		}
		return nil
	})
	stopForming()
	<-formed

	// Node 3 restarts with the same store: decider 2 cannot have its promise.
	_ = tr3.Close()
	tr3b, _ := network.Transport(raftcore.Peer{ID: 3, Addr: "n3"})
	t.Cleanup(func() { _ = tr3b.Close() })
	mount(tr3b)
	f2ctx, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	f, err := discovery.Form(f2ctx, discovery.FormConfig{Transport: deciders[2].tr, Server: deciders[2].srv,
		Source: discovery.StaticSource{{Addr: "n3"}}, Expect: 2, ProbeInterval: 10 * time.Millisecond})
	if err == nil {
		t.Fatalf("decider 2 formed %v with node 3, which had promised node 1", f.Peers)
	}
	t.Logf("decider 2: %v", err)
}
