package logkv

import (
	"errors"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// mapReader is a Reader over records in a map.
type mapReader map[uint64][]byte

func (m mapReader) ReadEntry(index uint64) ([]byte, bool, error) {
	v, ok := m[index]
	return v, ok, nil
}

func (m mapReader) ScanEntries(lo, hi uint64, fn func(key, value []byte) (bool, error)) error {
	var keys []uint64
	for k := range m {
		if k >= lo && k < hi {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if more, err := fn(EntryKey(k), m[k]); err != nil || !more {
			return err
		}
	}
	return nil
}

// logOf returns a Log over entries first..last of term 1, with the
// records in m.
func logOf(t *testing.T, first, last uint64) (*Log, mapReader) {
	t.Helper()
	m := mapReader{}
	var ents []*raftpb.Entry
	for i := first; i <= last; i++ {
		e := &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Data: []byte("payload")}
		rec, err := AppendEntryRecord(nil, EntryKey(i), e)
		if err != nil {
			t.Fatal(err)
		}
		m[i] = rec
		ents = append(ents, e)
	}
	st := NewState()
	next, _, err := st.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(0)), Vote: new(uint64(0))}, ents, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &Log{}
	if err := l.Init("test", m, next); err != nil {
		t.Fatal(err)
	}
	return l, m
}

func TestLogEntriesHonoursBoundsSizeAndGaps(t *testing.T) {
	l, m := logOf(t, 1, 10)
	got, err := l.Entries(3, 8, 1<<20)
	if err != nil || len(got) != 5 || got[0].GetIndex() != 3 || got[4].GetIndex() != 7 {
		t.Fatalf("Entries(3, 8) = %d entries, %v", len(got), err)
	}
	if got, err := l.Entries(3, 8, 1); err != nil || len(got) != 1 {
		t.Fatalf("Entries with a 1-byte budget = %d entries, %v; want exactly one", len(got), err)
	}
	if _, err := l.Entries(0, 3, 1<<20); !errors.Is(err, raft.ErrCompacted) {
		t.Errorf("Entries below the first index = %v, want ErrCompacted", err)
	}
	if _, err := l.Entries(5, 12, 1<<20); !errors.Is(err, raft.ErrUnavailable) {
		t.Errorf("Entries beyond the last index = %v, want ErrUnavailable", err)
	}
	delete(m, 6)
	if _, err := l.Entries(3, 8, 1<<20); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Errorf("Entries across a missing record = %v, want ErrCorrupt", err)
	}
	if _, err := l.TermLocked(6); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Errorf("Term of a missing record = %v, want ErrCorrupt", err)
	}
}

func TestLogInitWantsTheEndsOfTheLog(t *testing.T) {
	_, m := logOf(t, 1, 4)
	st := NewState()
	st.LastIndex = 4
	delete(m, 4)
	if err := (&Log{}).Init("test", m, st); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("Init without the last entry = %v, want ErrCorrupt", err)
	}
}

func TestLogCommitInstallsOnlyWhatWasWrittenAndAFatalErrorSticks(t *testing.T) {
	l, _ := logOf(t, 1, 3)
	fatal := errors.New("disk gone")
	next := l.State()
	next.LastIndex = 3 // same bounds, new hard state
	next.HardState = &raftpb.HardState{Term: new(uint64(2)), Commit: new(uint64(3)), Vote: new(uint64(0))}
	l.WriteMu.Lock()
	err := l.Commit(next, false, fatal, func([]byte) error { return errors.New("transient") }, nil)
	l.WriteMu.Unlock()
	if err == nil || l.State().HardState.GetTerm() != 1 {
		t.Fatalf("a failed write: err %v, term %d; want the error and the old state", err, l.State().HardState.GetTerm())
	}
	if err := l.Usable(); err != nil {
		t.Fatalf("after a transient error the store is unusable: %v", err)
	}
	var wrote []byte
	l.WriteMu.Lock()
	err = l.Commit(next, true, fatal, func(state []byte) error { wrote = state; return nil }, nil)
	l.WriteMu.Unlock()
	if err != nil || l.State().HardState.GetTerm() != 2 {
		t.Fatalf("a good write: err %v, term %d", err, l.State().HardState.GetTerm())
	}
	if st, err := DecodeState(wrote); err != nil || st.HardState.GetTerm() != 2 {
		t.Errorf("the state handed to write decodes to %v, %v", st.HardState, err)
	}
	l.WriteMu.Lock()
	err = l.Commit(next, false, fatal, func([]byte) error { return fatal }, nil)
	l.WriteMu.Unlock()
	if !errors.Is(err, fatal) {
		t.Fatalf("fatal write = %v", err)
	}
	if _, err := l.LastIndex(); !errors.Is(err, fatal) {
		t.Errorf("after a fatal write LastIndex = %v, want the fatal error", err)
	}
	closed := 0
	closeDB := func(failed bool) error {
		closed++
		if !failed {
			t.Error("closeDB not told the store failed")
		}
		return nil
	}
	if err := l.Close(closeDB); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(closeDB); !errors.Is(err, raftcore.ErrClosed) || closed != 1 {
		t.Errorf("second Close = %v (database closed %d times), want ErrClosed and one close", err, closed)
	}
}
