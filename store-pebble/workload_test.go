package storepebble_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// logState is what a store should hold after a sequence of operations of
// the crash workload: a log whose entries are all entryAt(index, term).
type logState struct {
	hardState  [3]uint64 // term, vote, commit
	snapIndex  uint64
	dummyIndex uint64
	dummyTerm  uint64
	terms      []uint64 // terms of dummyIndex+1, dummyIndex+2, ...
}

func (s logState) lastIndex() uint64 { return s.dummyIndex + uint64(len(s.terms)) }

func entryAt(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{
		Index: new(index), Term: new(term), Type: new(raftpb.EntryNormal),
		Data: fmt.Appendf(nil, "entry %d of term %d", index, term),
	}
}

// workloadOp is one operation of the crash workload and the state it leads to.
type workloadOp struct {
	name  string
	apply func(raftcore.LogStore) error
	next  logState
}

// nextOp draws an operation: mostly appends, some overwriting a suffix with
// a new term, and now and then a local snapshot, a compaction or a snapshot
// from the leader.
func nextOp(rng *rand.Rand, s logState) workloadOp {
	next := s
	next.terms = slices.Clone(s.terms)
	term := next.hardState[0]
	switch k := rng.IntN(10); {
	case k == 0 && len(s.terms) > 4 && s.snapIndex < s.lastIndex():
		index := max(s.snapIndex+1, s.lastIndex()-uint64(rng.IntN(3)))
		meta := &raftpb.SnapshotMetadata{Index: new(index), Term: new(next.terms[index-s.dummyIndex-1]), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
		next.snapIndex = index
		return workloadOp{fmt.Sprintf("set snapshot %d", index), func(st raftcore.LogStore) error { return st.SetSnapshot(meta) }, next}
	case k == 1 && s.snapIndex > s.dummyIndex:
		index := s.dummyIndex + 1 + uint64(rng.IntN(int(s.snapIndex-s.dummyIndex)))
		next.dummyTerm = next.terms[index-s.dummyIndex-1]
		next.terms = next.terms[index-s.dummyIndex:]
		next.dummyIndex = index
		return workloadOp{fmt.Sprintf("compact %d", index), func(st raftcore.LogStore) error { return st.Compact(index) }, next}
	case k == 2 && rng.IntN(3) == 0:
		// A snapshot from the leader replaces the log.
		index := max(s.lastIndex(), s.snapIndex) + 1 + uint64(rng.IntN(5))
		term = max(term, 1) + 1
		snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}}}}
		hs := &raftpb.HardState{Term: new(term), Vote: new(uint64(0)), Commit: new(index)}
		next = logState{hardState: [3]uint64{term, 0, index}, snapIndex: index, dummyIndex: index, dummyTerm: term}
		return workloadOp{fmt.Sprintf("save snapshot %d at term %d", index, term), func(st raftcore.LogStore) error { return st.Save(hs, nil, snap) }, next}
	default:
		lo := s.lastIndex() + 1
		if rng.IntN(5) == 0 && len(s.terms) > 0 {
			// A new leader overwrites up to three entries above the commit
			// index (and above the snapshot, which only covers committed
			// entries).
			floor := max(s.hardState[2], s.snapIndex, s.dummyIndex) + 1
			lo = max(floor, lo-uint64(rng.IntN(4)))
			term++
		}
		term = max(term, 1)
		n := 1 + rng.IntN(16)
		entries := make([]*raftpb.Entry, n)
		for i := range entries {
			entries[i] = entryAt(lo+uint64(i), term)
		}
		next.terms = next.terms[:lo-s.dummyIndex-1]
		for range n {
			next.terms = append(next.terms, term)
		}
		commit := max(s.hardState[2], lo-1)
		next.hardState = [3]uint64{term, 1, commit}
		hs := &raftpb.HardState{Term: new(term), Vote: new(uint64(1)), Commit: new(commit)}
		return workloadOp{fmt.Sprintf("append [%d, %d] at term %d", lo, lo+uint64(n)-1, term),
			func(st raftcore.LogStore) error { return st.Save(hs, entries, nil) }, next}
	}
}

// diffState describes how store differs from want, or returns "".
func diffState(store raftcore.LogStore, want logState) string {
	hs, _, err := store.InitialState()
	if err != nil {
		return err.Error()
	}
	if got := [3]uint64{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}; got != want.hardState {
		return fmt.Sprintf("hard state %v, want %v", got, want.hardState)
	}
	snap, err := store.Snapshot()
	if err != nil {
		return err.Error()
	}
	if snap.GetMetadata().GetIndex() != want.snapIndex {
		return fmt.Sprintf("snapshot %d, want %d", snap.GetMetadata().GetIndex(), want.snapIndex)
	}
	first, err := store.FirstIndex()
	if err != nil || first != want.dummyIndex+1 {
		return fmt.Sprintf("first index %d (%v), want %d", first, err, want.dummyIndex+1)
	}
	last, err := store.LastIndex()
	if err != nil || last != want.lastIndex() {
		return fmt.Sprintf("last index %d (%v), want %d", last, err, want.lastIndex())
	}
	if term, err := store.Term(want.dummyIndex); err != nil || term != want.dummyTerm {
		return fmt.Sprintf("term of the dummy entry %d (%v), want %d", term, err, want.dummyTerm)
	}
	if len(want.terms) == 0 {
		return ""
	}
	entries, err := store.Entries(first, last+1, ^uint64(0))
	if err != nil {
		return fmt.Sprintf("Entries: %v", err)
	}
	for i, e := range entries {
		w := entryAt(first+uint64(i), want.terms[i])
		if e.GetIndex() != w.GetIndex() || e.GetTerm() != w.GetTerm() || !bytes.Equal(e.GetData(), w.GetData()) {
			return fmt.Sprintf("entry %d has term %d and data %q, want term %d", e.GetIndex(), e.GetTerm(), e.GetData(), w.GetTerm())
		}
	}
	return ""
}
