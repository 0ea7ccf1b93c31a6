package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// LogState is what a LogStore should hold after a sequence of workload
// operations: a log whose entries are all WorkloadEntry(index, term). The
// zero LogState is an empty log.
type LogState struct {
	HardState  [3]uint64 // term, vote, commit
	SnapIndex  uint64    // index of the latest snapshot
	DummyIndex uint64    // FirstIndex-1
	DummyTerm  uint64
	Terms      []uint64 // terms of DummyIndex+1, DummyIndex+2, ...
}

// LastIndex returns the last index of the log.
func (s LogState) LastIndex() uint64 { return s.DummyIndex + uint64(len(s.Terms)) }

// WorkloadEntry returns the entry the workload writes at index in term; its
// data names both, so that an entry read back can be checked.
func WorkloadEntry(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{
		Index: new(index), Term: new(term), Type: new(raftpb.EntryNormal),
		Data: fmt.Appendf(nil, "entry %d of term %d", index, term),
	}
}

// WorkloadOp is one operation of the workload and the state it leads to.
type WorkloadOp struct {
	Name  string
	Apply func(raftcore.LogStore) error
	Next  LogState
}

// NextOp draws the operation that follows s: mostly appends, some
// overwriting a suffix with a new term, and now and then a local snapshot, a
// compaction or a snapshot from the leader that replaces the log. Every
// operation is valid in s.
func NextOp(rng *rand.Rand, s LogState) WorkloadOp {
	next := s
	next.Terms = slices.Clone(s.Terms)
	term := next.HardState[0]
	switch k := rng.IntN(10); {
	case k == 0 && len(s.Terms) > 4 && s.SnapIndex < s.LastIndex():
		index := max(s.SnapIndex+1, s.LastIndex()-uint64(rng.IntN(3)))
		meta := &raftpb.SnapshotMetadata{Index: new(index), Term: new(next.Terms[index-s.DummyIndex-1]), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
		next.SnapIndex = index
		return WorkloadOp{fmt.Sprintf("set snapshot %d", index), func(st raftcore.LogStore) error { return st.SetSnapshot(meta) }, next}
	case k == 1 && s.SnapIndex > s.DummyIndex:
		index := s.DummyIndex + 1 + uint64(rng.IntN(int(s.SnapIndex-s.DummyIndex)))
		next.DummyTerm = next.Terms[index-s.DummyIndex-1]
		next.Terms = next.Terms[index-s.DummyIndex:]
		next.DummyIndex = index
		return WorkloadOp{fmt.Sprintf("compact %d", index), func(st raftcore.LogStore) error { return st.Compact(index) }, next}
	case k == 2 && rng.IntN(3) == 0:
		// A snapshot from the leader replaces the log.
		index := max(s.LastIndex(), s.SnapIndex) + 1 + uint64(rng.IntN(5))
		term = max(term, 1) + 1
		snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}
		hs := &raftpb.HardState{Term: new(term), Vote: new(uint64(0)), Commit: new(index)}
		next = LogState{HardState: [3]uint64{term, 0, index}, SnapIndex: index, DummyIndex: index, DummyTerm: term}
		return WorkloadOp{fmt.Sprintf("save snapshot %d at term %d", index, term), func(st raftcore.LogStore) error { return st.Save(hs, nil, snap) }, next}
	default:
		lo := s.LastIndex() + 1
		if rng.IntN(5) == 0 && len(s.Terms) > 0 {
			// A new leader overwrites up to three entries above the commit
			// index (and above the snapshot, which only covers committed
			// entries).
			floor := max(s.HardState[2], s.SnapIndex, s.DummyIndex) + 1
			lo = max(floor, lo-min(lo, uint64(rng.IntN(4))))
			term++
		}
		term = max(term, 1)
		n := 1 + rng.IntN(16)
		entries := make([]*raftpb.Entry, n)
		for i := range entries {
			entries[i] = WorkloadEntry(lo+uint64(i), term)
		}
		next.Terms = next.Terms[:lo-s.DummyIndex-1]
		for range n {
			next.Terms = append(next.Terms, term)
		}
		commit := max(s.HardState[2], lo-1)
		next.HardState = [3]uint64{term, 1, commit}
		hs := &raftpb.HardState{Term: new(term), Vote: new(uint64(1)), Commit: new(commit)}
		return WorkloadOp{fmt.Sprintf("append [%d, %d] at term %d", lo, lo+uint64(n)-1, term),
			func(st raftcore.LogStore) error { return st.Save(hs, entries, nil) }, next}
	}
}

// DiffState describes how store differs from want, or returns "" if it
// holds exactly want.
func DiffState(store raftcore.LogStore, want LogState) string {
	hs, _, err := store.InitialState()
	if err != nil {
		return err.Error()
	}
	if got := [3]uint64{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}; got != want.HardState {
		return fmt.Sprintf("hard state %v, want %v", got, want.HardState)
	}
	snap, err := store.Snapshot()
	if err != nil {
		return err.Error()
	}
	if snap.GetMetadata().GetIndex() != want.SnapIndex {
		return fmt.Sprintf("snapshot %d, want %d", snap.GetMetadata().GetIndex(), want.SnapIndex)
	}
	first, err := store.FirstIndex()
	if err != nil || first != want.DummyIndex+1 {
		return fmt.Sprintf("first index %d (%v), want %d", first, err, want.DummyIndex+1)
	}
	last, err := store.LastIndex()
	if err != nil || last != want.LastIndex() {
		return fmt.Sprintf("last index %d (%v), want %d", last, err, want.LastIndex())
	}
	if term, err := store.Term(want.DummyIndex); err != nil || term != want.DummyTerm {
		return fmt.Sprintf("term of the dummy entry %d (%v), want %d", term, err, want.DummyTerm)
	}
	if len(want.Terms) == 0 {
		return ""
	}
	entries, err := store.Entries(first, last+1, noLimit)
	if err != nil {
		return fmt.Sprintf("Entries: %v", err)
	}
	if len(entries) != len(want.Terms) {
		return fmt.Sprintf("Entries returned %d entries, want %d", len(entries), len(want.Terms))
	}
	for i, e := range entries {
		w := WorkloadEntry(first+uint64(i), want.Terms[i])
		if e.GetIndex() != w.GetIndex() || e.GetTerm() != w.GetTerm() || !bytes.Equal(e.GetData(), w.GetData()) {
			return fmt.Sprintf("entry %d has term %d and data %q, want term %d", e.GetIndex(), e.GetTerm(), e.GetData(), w.GetTerm())
		}
	}
	return ""
}
