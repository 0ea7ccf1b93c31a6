package raftcore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

func newKVCluster(t *testing.T, n int, configure func(*raftcore.Config)) *clustertest.Cluster[clustertest.KVCommand, clustertest.KVResult] {
	return newKVClusterWith(t, n, configure, clustertest.JSONCodec[clustertest.KVCommand]{})
}

func newKVClusterWith(t *testing.T, n int, configure func(*raftcore.Config), codec raftcore.Codec[clustertest.KVCommand]) *clustertest.Cluster[clustertest.KVCommand, clustertest.KVResult] {
	opts := clustertest.Options{NewNetwork: clustertest.NewLoopback, Configure: configure}
	return clustertest.NewCluster(t, opts, n, func() raftcore.StateMachine[clustertest.KVCommand, clustertest.KVResult] { return clustertest.NewKV() }, codec)
}

func TestProposeRejectsOversizedCommand(t *testing.T) {
	c := newKVCluster(t, 1, func(cfg *raftcore.Config) { cfg.MaxCommandSize = 32 })
	_, err := c.Leader().Propose(clustertest.Context(t, 5*time.Second), clustertest.KVCommand{Op: "put", Key: "k", Value: string(make([]byte, 64))})
	if !errors.Is(err, raftcore.ErrTooLarge) {
		t.Fatalf("oversized propose = %v, want ErrTooLarge", err)
	}
}

func TestProposeWithoutLeaderIsDroppedNotHung(t *testing.T) {
	c := newKVCluster(t, 3, nil)
	f := c.Follower()
	var others []uint64
	for _, id := range c.Running() {
		if id != f.ID() {
			others = append(others, id)
		}
	}
	c.Net.Partition([]uint64{f.ID()}, others)
	clustertest.WaitFor(t, "the isolated follower to forget its leader", 10*time.Second, func() bool { return f.Leader() == 0 })
	_, err := f.Propose(clustertest.Context(t, 5*time.Second), clustertest.KVCommand{Op: "put", Key: "k", Value: "v"})
	if !errors.Is(err, raftcore.ErrProposalDropped) {
		t.Fatalf("propose without a leader = %v, want ErrProposalDropped", err)
	}
}

// poisonCodec encodes anything but refuses to decode the value "poison",
// standing in for a command written by an incompatible version.
type poisonCodec struct {
	clustertest.JSONCodec[clustertest.KVCommand]
}

func (p poisonCodec) Decode(b []byte) (clustertest.KVCommand, error) {
	c, err := p.JSONCodec.Decode(b)
	if err == nil && c.Value == "poison" {
		return c, errors.New("unknown command version")
	}
	return c, err
}

func TestUndecodableEntryStopsTheNodeLoudly(t *testing.T) {
	c := newKVClusterWith(t, 1, nil, poisonCodec{})
	n := c.Leader()
	ctx := clustertest.Context(t, 5*time.Second)
	if _, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "a", Value: "ok"}); err != nil {
		t.Fatal(err)
	}
	_, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "b", Value: "poison"})
	if !errors.Is(err, raftcore.ErrStopped) {
		t.Fatalf("propose of an undecodable command = %v, want ErrStopped", err)
	}
	select {
	case <-n.Done():
	case <-ctx.Done():
		t.Fatal("node did not stop")
	}
	var applyErr *raftcore.ApplyError
	if !errors.As(n.Err(), &applyErr) || applyErr.Index == 0 {
		t.Fatalf("Err() = %v, want an *ApplyError naming the entry", n.Err())
	}
	if _, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "c", Value: "v"}); !errors.Is(err, raftcore.ErrStopped) {
		t.Fatalf("propose after the failure = %v, want ErrStopped", err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("close after the failure: %v", err)
	}
}

func TestSubscribeSeesElectionAndMembership(t *testing.T) {
	c := newKVCluster(t, 1, nil)
	n := c.Leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := n.Subscribe(ctx)
	if err := n.TransferLeadership(ctx, n.ID()); err != nil {
		t.Fatalf("transfer to self: %v", err)
	}
	if err := n.AddLearner(ctx, raftcore.Peer{ID: 9, Addr: "loopback-9"}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.Type == raftcore.EventMemberAdded && ev.Member.ID == 9 && ev.Role == raftcore.RoleLearner {
				if ev.Member.Addr != "loopback-9" {
					t.Fatalf("member metadata not replicated: %+v", ev.Member)
				}
				cancel()
				for range events { // the channel closes with the context
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no MemberAdded event")
		}
	}
}

func TestRemovingTheLastVoterIsRefused(t *testing.T) {
	c := newKVCluster(t, 1, nil)
	n := c.Leader()
	if err := n.RemoveMember(clustertest.Context(t, 5*time.Second), n.ID()); !errors.Is(err, raftcore.ErrLastVoter) {
		t.Fatalf("removing the only voter = %v, want ErrLastVoter", err)
	}
	if _, err := n.Propose(clustertest.Context(t, 5*time.Second), clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}); err != nil {
		t.Fatalf("cluster unusable after the refused removal: %v", err)
	}
}

// failingLog fails every Save once armed, like a disk that filled up.
type failingLog struct {
	raftcore.LogStore
	armed atomic.Bool
}

var errDiskFull = errors.New("no space left on device")

func (f *failingLog) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if f.armed.Load() {
		return errDiskFull
	}
	return f.LogStore.Save(hs, ents, snap)
}

// startOneNode starts a one-voter KV node on ls and waits until it leads.
func startOneNode(t *testing.T, ctx context.Context, ls raftcore.LogStore) *raftcore.Node[clustertest.KVCommand, clustertest.KVResult] {
	t.Helper()
	network := clustertest.NewLoopback(t)
	n, err := raftcore.Start(context.Background(), raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{network.Peer(1)}, Preset: raftcore.Testing,
		Transport: network.Transport(t, 1), LogStore: ls, SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogStoreErrorStopsTheNodeCleanly(t *testing.T) {
	ls := &failingLog{LogStore: raftcore.NewMemoryLogStore()}
	ctx := clustertest.Context(t, 10*time.Second)
	n := startOneNode(t, ctx, ls)
	if _, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "a", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	ls.armed.Store(true)
	_, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "b", Value: "2"})
	if !errors.Is(err, raftcore.ErrStopped) || !errors.Is(err, errDiskFull) {
		t.Fatalf("propose when the disk fails = %v, want ErrStopped wrapping the disk error", err)
	}
	select {
	case <-n.Done():
	case <-ctx.Done():
		t.Fatal("node did not stop after a storage error")
	}
	if !errors.Is(n.Err(), errDiskFull) {
		t.Fatalf("Err() = %v, want the disk error", n.Err())
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("close after the failure: %v", err)
	}
}

// failingReads fails every read of entries and terms once armed, like a
// disk that returns EIO. Close leaves the store as it is, so that a node can
// restart on it.
type failingReads struct {
	raftcore.LogStore
	entries, terms atomic.Bool
}

var errReadFailed = errors.New("input/output error")

func (f *failingReads) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if f.entries.Load() {
		return nil, errReadFailed
	}
	return f.LogStore.Entries(lo, hi, maxSize)
}

func (f *failingReads) Term(i uint64) (uint64, error) {
	if f.terms.Load() {
		return 0, errReadFailed
	}
	return f.LogStore.Term(i)
}

func (f *failingReads) Close() error { return nil }

// A LogStore read that fails, when a node restarts on its log, fails Start
// (raft reads terms as it starts) or stops the node (it reads the entries
// to apply on its own goroutine) with the error, as a failed Save does.
// Raft panics on such an error; that panic must not take the process down.
func TestLogStoreReadErrorStopsTheNodeCleanly(t *testing.T) {
	for _, tt := range []struct {
		name          string
		entries, term bool
	}{
		{"terms and entries fail", true, true},
		{"entries fail", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ls := &failingReads{LogStore: raftcore.NewMemoryLogStore()}
			ctx := clustertest.Context(t, 10*time.Second)
			n := startOneNode(t, ctx, ls)
			for i := range 3 {
				if _, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprint(i), Value: "1"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.Close(ctx); err != nil {
				t.Fatal(err)
			}

			ls.entries.Store(tt.entries)
			ls.terms.Store(tt.term)
			network := clustertest.NewLoopback(t)
			n, err := raftcore.Start(ctx, raftcore.Config{
				NodeID: 1, Peers: []raftcore.Peer{network.Peer(1)}, Preset: raftcore.Testing,
				Transport: network.Transport(t, 1), LogStore: ls, SnapshotStore: raftcore.NewMemorySnapshotStore(),
			}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{})
			if err == nil {
				select {
				case <-n.Done():
					err = n.Err()
				case <-ctx.Done():
					t.Fatal("the node runs on a log it cannot read")
				}
				if cerr := n.Close(ctx); cerr != nil && !errors.Is(cerr, errReadFailed) {
					t.Fatalf("close after the failure: %v", cerr)
				}
			}
			if !errors.Is(err, errReadFailed) {
				t.Fatalf("restart on an unreadable log: %v, want an error wrapping the read error", err)
			}
			t.Logf("restart on an unreadable log: %v", err)
		})
	}
}
