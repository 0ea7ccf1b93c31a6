package app

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx/fxtest"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// flakyLeader leads and refuses the first refusals bindings, as a leader
// does while a membership change is in progress.
type flakyLeader struct {
	mu       sync.Mutex
	refusals int
	bound    map[uint64][]byte
}

func (f *flakyLeader) ID() uint64     { return 1 }
func (f *flakyLeader) IsLeader() bool { return true }
func (f *flakyLeader) Subscribe(ctx context.Context) <-chan raftcore.Event {
	ch := make(chan raftcore.Event)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}

func (f *flakyLeader) BindMemberKey(_ context.Context, id uint64, key []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refusals > 0 {
		f.refusals--
		return raftcore.ErrProposalDropped
	}
	f.bound[id] = key
	return nil
}

func (f *flakyLeader) boundKey(id uint64) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bound[id]
}

// TestAPostponedBindingIsRetried: a key the leader could not record at
// once is recorded later without any new event to prompt it (no new key
// learned, no new leader).
func TestAPostponedBindingIsRetried(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeyBindings(lc, Config{NodeID: 1, ClusterSecret: "s"}, priv, slog.New(slog.DiscardHandler))
	lc.RequireStart()
	defer lc.RequireStop()
	node := &flakyLeader{refusals: 3, bound: map[uint64][]byte{}}
	k.attach(node)
	clustertest.WaitFor(t, "this node's own key bound after three refusals", 20*time.Second, func() bool {
		return string(node.boundKey(1)) == string(pub)
	})
}

// electedLeader is a node that becomes the leader after attach, announcing
// it as the engine does: EventLeaderElected first, while IsLeader still
// reports false, then EventRoleChanged once it reports true.
type electedLeader struct {
	flakyLeader
	leading atomic.Bool
	events  chan raftcore.Event
}

func (e *electedLeader) IsLeader() bool { return e.leading.Load() }
func (e *electedLeader) Subscribe(ctx context.Context) <-chan raftcore.Event {
	go func() { <-ctx.Done(); close(e.events) }()
	return e.events
}

// TestBindingsAreRecordedWhenTheNodeBecomesLeader: keys learned while the
// node follows are recorded once it leads, however its announcement of the
// election and its role are interleaved with KeyBindings' work.
func TestBindingsAreRecordedWhenTheNodeBecomesLeader(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	peer, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeyBindings(lc, Config{NodeID: 1, ClusterSecret: "s"}, priv, slog.New(slog.DiscardHandler))
	lc.RequireStart()
	defer lc.RequireStop()
	node := &electedLeader{flakyLeader: flakyLeader{bound: map[uint64][]byte{}}, events: make(chan raftcore.Event)}
	k.attach(node)
	k.Learned(2, peer)
	// The channel is unbuffered: the second send returns only once the
	// election has been handled, while IsLeader is still false, as the
	// engine's order allows.
	node.events <- raftcore.Event{Type: raftcore.EventLeaderElected, NodeID: 1, Leader: 1, Term: 2}
	node.events <- raftcore.Event{Type: raftcore.EventTermChanged, NodeID: 1, Term: 2}
	node.leading.Store(true)
	node.events <- raftcore.Event{Type: raftcore.EventRoleChanged, NodeID: 1, Role: raftcore.RoleLeader, Term: 2}
	clustertest.WaitFor(t, "both keys bound once the node leads", 20*time.Second, func() bool {
		return string(node.boundKey(1)) == string(pub) && string(node.boundKey(2)) == string(peer)
	})
}
