package logkv

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors of the state transitions. Match them with errors.Is; they
// are wrapped with %w when context is added.
var (
	// ErrInvalidSave is returned by State.Save for entries that are not
	// contiguous or that would leave a gap after the last index.
	ErrInvalidSave = errors.New("logkv: invalid save")
	// ErrCompactBeyondSnapshot is returned by State.CheckCompact for an
	// index that the latest snapshot does not cover.
	ErrCompactBeyondSnapshot = errors.New("logkv: compaction beyond the latest snapshot")
)

// Term answers raft.Storage's Term from the state alone where it can: it
// returns raft.ErrCompacted below the compaction point, the dummy entry's
// term at it and raft.ErrUnavailable beyond the last index. For an index in
// the log it returns ok false: the term is that of the stored entry.
func (s State) Term(index uint64) (term uint64, ok bool, err error) {
	switch {
	case index < s.DummyIndex:
		return 0, true, raft.ErrCompacted
	case index == s.DummyIndex:
		return s.DummyTerm, true, nil
	case index > s.LastIndex:
		return 0, true, raft.ErrUnavailable
	}
	return 0, false, nil
}

// Save returns the state after raftcore.LogStore's Save of hs, entries and
// snap, and the entries to write: a snapshot replaces the whole log, and
// entries at or below the compaction point it leaves are skipped. It
// returns raft.ErrSnapOutOfDate for a snapshot not newer than the current
// one and an error wrapping ErrInvalidSave for entries that are not
// contiguous or leave a gap. s is left untouched, and next shares no
// object with the arguments.
func (s State) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) (next State, kept []*raftpb.Entry, err error) {
	next = s
	if !raft.IsEmptySnap(snap) {
		meta := snap.GetMetadata()
		if meta.GetIndex() <= s.Snapshot.GetIndex() {
			return s, nil, fmt.Errorf("logkv: saving snapshot %d with snapshot %d stored: %w", meta.GetIndex(), s.Snapshot.GetIndex(), raft.ErrSnapOutOfDate)
		}
		next.Snapshot = cloneSnapshotMetadata(meta)
		next.DummyIndex, next.DummyTerm, next.LastIndex = meta.GetIndex(), meta.GetTerm(), meta.GetIndex()
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].GetIndex() != entries[i-1].GetIndex()+1 {
			return s, nil, fmt.Errorf("%w: entry %d follows entry %d", ErrInvalidSave, entries[i].GetIndex(), entries[i-1].GetIndex())
		}
	}
	if len(entries) > 0 && entries[0].GetIndex() > next.LastIndex+1 {
		return s, nil, fmt.Errorf("%w: appending at %d leaves a gap after the last index %d", ErrInvalidSave, entries[0].GetIndex(), next.LastIndex)
	}
	for len(entries) > 0 && entries[0].GetIndex() <= next.DummyIndex {
		entries = entries[1:]
	}
	if len(entries) > 0 {
		next.LastIndex = entries[len(entries)-1].GetIndex()
	}
	if !raft.IsEmptyHardState(hs) {
		next.HardState = proto.Clone(hs).(*raftpb.HardState)
	}
	return next, entries, nil
}

// SetSnapshot returns the state after raftcore.LogStore's SetSnapshot of
// meta. It returns raft.ErrSnapOutOfDate for a snapshot not newer than the
// current one and raft.ErrUnavailable for an index beyond the last one.
func (s State) SetSnapshot(meta *raftpb.SnapshotMetadata) (State, error) {
	if meta.GetIndex() <= s.Snapshot.GetIndex() {
		return s, fmt.Errorf("logkv: setting snapshot %d with snapshot %d stored: %w", meta.GetIndex(), s.Snapshot.GetIndex(), raft.ErrSnapOutOfDate)
	}
	if meta.GetIndex() > s.LastIndex {
		return s, fmt.Errorf("logkv: setting snapshot %d beyond the last index %d: %w", meta.GetIndex(), s.LastIndex, raft.ErrUnavailable)
	}
	s.Snapshot = cloneSnapshotMetadata(meta)
	return s, nil
}

// CheckCompact checks raftcore.LogStore's Compact to index: it returns
// raft.ErrCompacted for an index at or below the compaction point and an
// error wrapping ErrCompactBeyondSnapshot for one the latest snapshot does
// not cover. After it, the new state has DummyIndex index and DummyTerm the
// term of entry index.
func (s State) CheckCompact(index uint64) error {
	if index <= s.DummyIndex {
		return raft.ErrCompacted
	}
	if index > s.Snapshot.GetIndex() || index > s.LastIndex {
		return fmt.Errorf("%w: compacting to %d, latest snapshot at %d, last index %d",
			ErrCompactBeyondSnapshot, index, s.Snapshot.GetIndex(), s.LastIndex)
	}
	return nil
}

func cloneSnapshotMetadata(meta *raftpb.SnapshotMetadata) *raftpb.SnapshotMetadata {
	return raftpb.EnsureSnapshotMetadata(proto.Clone(meta).(*raftpb.SnapshotMetadata))
}
