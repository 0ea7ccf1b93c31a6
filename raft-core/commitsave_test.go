package raftcore_test

import (
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// savesLog records every Save a node makes and keeps the last HardState
// after Close, when the store itself is closed.
type savesLog struct {
	raftcore.LogStore
	mu         sync.Mutex
	saves      int
	commitOnly int
	lastHS     *raftpb.HardState
}

func (s *savesLog) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	s.saves++
	if len(ents) == 0 && snap == nil && hs != nil && s.lastHS != nil &&
		hs.GetTerm() == s.lastHS.GetTerm() && hs.GetVote() == s.lastHS.GetVote() {
		s.commitOnly++
	}
	if hs != nil {
		s.lastHS = hs
	}
	s.mu.Unlock()
	return s.LogStore.Save(hs, ents, snap)
}

// TestCommitIndexAloneIsNotSynced checks that a change of the commit index
// alone costs no Save (raft does not need it durable), that the commit index
// reaches the store with the next Save, and that a graceful Close writes it.
func TestCommitIndexAloneIsNotSynced(t *testing.T) {
	ls := &savesLog{LogStore: raftcore.NewMemoryLogStore()}
	ctx := clustertest.Context(t, 10*time.Second)
	n := startOneNode(t, ctx, ls)
	var last uint64
	for i := range 20 {
		res, err := n.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "k", Value: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Index
	}
	ls.mu.Lock()
	commitOnly, saves := ls.commitOnly, ls.saves
	ls.mu.Unlock()
	if commitOnly != 0 {
		t.Fatalf("%d of %d Saves only moved the commit index", commitOnly, saves)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if got := ls.lastHS.GetCommit(); got < last {
		t.Fatalf("after Close the stored commit index is %d, below the last applied write %d", got, last)
	}
	if ls.commitOnly != 1 {
		t.Fatalf("Close made %d commit-only Saves, want 1", ls.commitOnly)
	}
}
