package logkv

import (
	"errors"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func entries(lo, hi, term uint64) []*raftpb.Entry {
	var es []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, &raftpb.Entry{Index: new(i), Term: new(term)})
	}
	return es
}

// logState is a log [first, last] after a snapshot at snapIndex and a
// compaction to first-1 at term 2.
func logState(first, last, snapIndex uint64) State {
	s := NewState()
	s.DummyIndex, s.DummyTerm, s.LastIndex = first-1, 2, last
	s.Snapshot = cloneSnapshotMetadata(&raftpb.SnapshotMetadata{Index: new(snapIndex), Term: new(uint64(2))})
	return s
}

func TestSaveComputesTheNextState(t *testing.T) {
	hs := &raftpb.HardState{Term: new(uint64(3)), Vote: new(uint64(1)), Commit: new(uint64(6))}
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(3))}}
	cases := []struct {
		name                   string
		hs                     *raftpb.HardState
		entries                []*raftpb.Entry
		snap                   *raftpb.Snapshot
		first, last, keptFirst uint64
		kept                   int
		err                    error
	}{
		{"append", hs, entries(11, 12, 3), nil, 5, 12, 11, 2, nil},
		{"overwrite a suffix", nil, entries(8, 9, 3), nil, 5, 9, 8, 2, nil},
		{"entries below the compaction point are skipped", nil, entries(2, 6, 3), nil, 5, 6, 5, 2, nil},
		{"a snapshot replaces the log", hs, entries(19, 22, 3), snap, 21, 22, 21, 2, nil},
		{"hard state only", hs, nil, nil, 5, 10, 0, 0, nil},
		{"gap after the last index", nil, entries(12, 13, 3), nil, 5, 10, 0, 0, ErrInvalidSave},
		{"entries not contiguous", nil, append(entries(8, 8, 3), entries(10, 10, 3)...), nil, 5, 10, 0, 0, ErrInvalidSave},
		{"snapshot not newer", nil, nil, &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(6))}}, 5, 10, 0, 0, raft.ErrSnapOutOfDate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := logState(5, 10, 6)
			before, err := s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			next, kept, err := s.Save(c.hs, c.entries, c.snap)
			if after, _ := s.Encode(); string(after) != string(before) {
				t.Fatal("Save changed the state it was called on")
			}
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if next.DummyIndex+1 != c.first || next.LastIndex != c.last || len(kept) != c.kept ||
				(c.kept > 0 && kept[0].GetIndex() != c.keptFirst) {
				t.Fatalf("log [%d, %d] keeping %d entries, want [%d, %d] keeping %d from %d",
					next.DummyIndex+1, next.LastIndex, len(kept), c.first, c.last, c.kept, c.keptFirst)
			}
			if c.hs != nil && !proto.Equal(next.HardState, c.hs) {
				t.Fatalf("hard state %v, want %v", next.HardState, c.hs)
			}
			if c.snap != nil {
				if next.DummyTerm != 3 || next.Snapshot.GetIndex() != 20 || next.Snapshot == c.snap.GetMetadata() {
					t.Fatalf("snapshot %v (term of the dummy entry %d), want a copy of %v", next.Snapshot, next.DummyTerm, c.snap.GetMetadata())
				}
			}
		})
	}
}

func TestSetSnapshotAndCheckCompactFollowTheLog(t *testing.T) {
	s := logState(5, 10, 6)
	meta := &raftpb.SnapshotMetadata{Index: new(uint64(8)), Term: new(uint64(2))}
	next, err := s.SetSnapshot(meta)
	if err != nil || next.Snapshot.GetIndex() != 8 || next.Snapshot == meta || s.Snapshot.GetIndex() != 6 {
		t.Fatalf("SetSnapshot(8) = snapshot %d, %v; state before at %d", next.Snapshot.GetIndex(), err, s.Snapshot.GetIndex())
	}
	for _, c := range []struct {
		index uint64
		err   error
	}{{6, raft.ErrSnapOutOfDate}, {11, raft.ErrUnavailable}} {
		if _, err := s.SetSnapshot(&raftpb.SnapshotMetadata{Index: new(c.index)}); !errors.Is(err, c.err) {
			t.Errorf("SetSnapshot(%d): error %v, want %v", c.index, err, c.err)
		}
	}
	for _, c := range []struct {
		index uint64
		err   error
	}{{4, raft.ErrCompacted}, {5, nil}, {6, nil}, {7, ErrCompactBeyondSnapshot}} {
		if err := s.CheckCompact(c.index); !errors.Is(err, c.err) {
			t.Errorf("CheckCompact(%d): error %v, want %v", c.index, err, c.err)
		}
	}
}

func TestTermIsKnownOutsideTheStoredEntries(t *testing.T) {
	s := logState(5, 10, 6)
	cases := []struct {
		index, term uint64
		ok          bool
		err         error
	}{
		{3, 0, true, raft.ErrCompacted},
		{4, 2, true, nil},
		{5, 0, false, nil},
		{10, 0, false, nil},
		{11, 0, true, raft.ErrUnavailable},
	}
	for _, c := range cases {
		term, ok, err := s.Term(c.index)
		if term != c.term || ok != c.ok || !errors.Is(err, c.err) {
			t.Errorf("Term(%d) = %d, %v, %v; want %d, %v, %v", c.index, term, ok, err, c.term, c.ok, c.err)
		}
	}
}
