package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Reopen opens again the data of the store a factory returned. The suite
// has closed the previous store when it calls Reopen, and closes the store
// Reopen returns.
type Reopen[S any] func(t *testing.T) S

// LogStoreFactory returns a new, empty store and, for a durable store, a
// Reopen function over the same data (nil for an in-memory store). The
// factory cleans up the data (t.TempDir); the suite closes the stores.
type LogStoreFactory func(t *testing.T) (raftcore.LogStore, Reopen[raftcore.LogStore])

// logStep is one operation of a scripted case: it applies the operation to
// the store and to the model and checks the error class.
type logStep func(t *testing.T, store raftcore.LogStore, m *logModel)

func saveStep(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) logStep {
	return func(t *testing.T, store raftcore.LogStore, m *logModel) {
		t.Helper()
		want := m.save(hs, entries, snap)
		checkError(t, fmt.Sprintf("Save(hs=%v, %d entries from %d, snap=%d)", hs, len(entries),
			firstIndexOf(entries), snap.GetMetadata().GetIndex()), store.Save(hs, entries, snap), want)
	}
}

func setSnapshotStep(meta *raftpb.SnapshotMetadata) logStep {
	return func(t *testing.T, store raftcore.LogStore, m *logModel) {
		t.Helper()
		want := m.setSnapshot(meta)
		checkError(t, fmt.Sprintf("SetSnapshot(%d)", meta.GetIndex()), store.SetSnapshot(meta), want)
	}
}

func compactStep(index uint64) logStep {
	return func(t *testing.T, store raftcore.LogStore, m *logModel) {
		t.Helper()
		want := m.compact(index)
		checkError(t, fmt.Sprintf("Compact(%d)", index), store.Compact(index), want)
	}
}

func firstIndexOf(entries []*raftpb.Entry) uint64 {
	if len(entries) == 0 {
		return 0
	}
	return entries[0].GetIndex()
}

// RunLogStore runs the LogStore conformance suite against the stores newStore
// returns.
func RunLogStore(t *testing.T, newStore LogStoreFactory) {
	scripts := []struct {
		name  string
		steps []logStep
	}{
		{"empty store has an empty hard state, a dummy entry at 0 and no entries", nil},
		{"appended entries are readable", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
		}},
		{"appends in several saves form one log", []logStep{
			saveStep(nil, makeEntries(1, 3, 1), nil),
			saveStep(nil, makeEntries(4, 4, 1), nil),
			saveStep(nil, makeEntries(5, 9, 2), nil),
		}},
		{"hard state is saved with the entries", []logStep{
			saveStep(hardState(2, 1, 3), makeEntries(1, 5, 2), nil),
		}},
		{"empty hard state keeps the previous one", []logStep{
			saveStep(hardState(2, 1, 3), makeEntries(1, 5, 2), nil),
			saveStep(&raftpb.HardState{}, makeEntries(6, 6, 2), nil),
			saveStep(nil, makeEntries(7, 7, 2), nil),
		}},
		{"hard state alone is saved", []logStep{
			saveStep(hardState(1, 0, 0), nil, nil),
			saveStep(hardState(3, 2, 0), nil, nil),
		}},
		{"empty save changes nothing", []logStep{
			saveStep(hardState(1, 1, 1), makeEntries(1, 2, 1), nil),
			saveStep(nil, nil, nil),
			saveStep(&raftpb.HardState{}, []*raftpb.Entry{}, &raftpb.Snapshot{}),
		}},
		{"conflicting suffix is truncated", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			saveStep(hardState(2, 2, 4), makeEntries(6, 8, 2), nil),
		}},
		{"conflicting entry at first index replaces the whole log", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			saveStep(nil, makeEntries(1, 2, 3), nil),
		}},
		{"append after a truncation extends the new suffix", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			saveStep(nil, makeEntries(4, 5, 2), nil),
			saveStep(nil, makeEntries(6, 12, 2), nil),
		}},
		{"saved snapshot replaces the whole log", []logStep{
			saveStep(hardState(1, 1, 10), makeEntries(1, 10, 1), nil),
			saveStep(hardState(3, 0, 20), nil, snapshot(20, 3, 1, 2, 3)),
		}},
		{"saved snapshot inside the log replaces entries after it too", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			saveStep(nil, nil, snapshot(5, 1, 1, 2)),
		}},
		{"snapshot and the entries after it in one save", []logStep{
			saveStep(nil, makeEntries(1, 3, 1), nil),
			saveStep(hardState(4, 0, 30), makeEntries(31, 35, 4), snapshot(30, 4, 1, 2, 3)),
		}},
		{"entries after a saved snapshot extend the log", []logStep{
			saveStep(nil, nil, snapshot(7, 2, 1)),
			saveStep(nil, makeEntries(8, 12, 2), nil),
			saveStep(nil, makeEntries(10, 11, 3), nil),
		}},
		{"set snapshot records the metadata and keeps the log", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(6, 1, 1, 2, 3)),
			setSnapshotStep(snapshotMeta(10, 1, 1, 2)),
		}},
		{"compact discards a prefix and keeps its term for the dummy entry", []logStep{
			saveStep(nil, append(makeEntries(1, 5, 1), makeEntries(6, 10, 2)...), nil),
			setSnapshotStep(snapshotMeta(8, 2, 1)),
			compactStep(3),
			compactStep(6),
			compactStep(8),
		}},
		{"compact then append and truncate above the first index", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(5, 1, 1)),
			compactStep(5),
			saveStep(nil, makeEntries(6, 7, 2), nil),
			saveStep(nil, makeEntries(8, 9, 2), nil),
		}},
		{"compact after a saved snapshot and appends", []logStep{
			saveStep(nil, nil, snapshot(10, 2, 1)),
			saveStep(nil, makeEntries(11, 20, 3), nil),
			setSnapshotStep(snapshotMeta(15, 3, 1)),
			compactStep(15),
		}},
		{"large entry", []logStep{
			saveStep(nil, []*raftpb.Entry{{
				Index: new(uint64(1)), Term: new(uint64(1)), Type: new(raftpb.EntryNormal),
				Data: make([]byte, 4<<20),
			}}, nil),
			saveStep(nil, makeEntries(2, 2, 1), nil),
		}},
		{"conf change entries keep their type", []logStep{
			saveStep(nil, []*raftpb.Entry{
				{Index: new(uint64(1)), Term: new(uint64(1)), Type: new(raftpb.EntryConfChange), Data: []byte("cc")},
				{Index: new(uint64(2)), Term: new(uint64(1)), Type: new(raftpb.EntryConfChangeV2), Data: []byte("cc2")},
				{Index: new(uint64(3)), Term: new(uint64(1)), Type: new(raftpb.EntryNormal)},
			}, nil),
		}},

		{"append with a gap fails and changes nothing", []logStep{
			saveStep(hardState(1, 1, 1), makeEntries(1, 5, 1), nil),
			saveStep(hardState(2, 2, 2), makeEntries(7, 8, 2), nil),
		}},
		{"non-contiguous entries fail and change nothing", []logStep{
			saveStep(nil, makeEntries(1, 5, 1), nil),
			saveStep(hardState(2, 2, 2), append(makeEntries(6, 7, 1), makeEntries(9, 9, 1)...), nil),
		}},
		{"entries at or below the compaction point are skipped", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(5, 1, 1)),
			compactStep(5),
			saveStep(nil, makeEntries(3, 12, 2), nil),
			saveStep(nil, makeEntries(2, 5, 3), nil),
		}},
		{"entries at or below a snapshot saved with them are skipped", []logStep{
			saveStep(nil, makeEntries(1, 3, 1), nil),
			saveStep(nil, makeEntries(8, 12, 2), snapshot(10, 2, 1)),
		}},
		{"entries not following a snapshot in the same save fail", []logStep{
			saveStep(nil, makeEntries(1, 3, 1), nil),
			saveStep(hardState(2, 0, 10), makeEntries(12, 13, 2), snapshot(10, 2, 1)),
		}},
		{"saved snapshot not newer than the current one returns ErrSnapOutOfDate", []logStep{
			saveStep(nil, nil, snapshot(10, 2, 1)),
			saveStep(hardState(5, 0, 10), makeEntries(11, 12, 5), snapshot(10, 2, 1)),
			saveStep(nil, nil, snapshot(9, 2, 1)),
		}},
		{"set snapshot not newer than the current one returns ErrSnapOutOfDate", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(6, 1, 1)),
			setSnapshotStep(snapshotMeta(6, 1, 1, 2)),
			setSnapshotStep(snapshotMeta(4, 1, 1, 2)),
		}},
		{"set snapshot beyond the last index returns ErrUnavailable", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(11, 1, 1)),
		}},
		{"compact without a snapshot fails", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			compactStep(3),
		}},
		{"compact beyond the snapshot fails", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(5, 1, 1)),
			compactStep(6),
		}},
		{"compact beyond the last index fails after a truncation below the snapshot", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(8, 1, 1)),
			saveStep(nil, makeEntries(5, 6, 2), nil),
			compactStep(7),
			compactStep(6),
		}},
		{"compact of a compacted index returns ErrCompacted", []logStep{
			saveStep(nil, makeEntries(1, 10, 1), nil),
			setSnapshotStep(snapshotMeta(5, 1, 1)),
			compactStep(4),
			compactStep(4),
			compactStep(2),
			compactStep(0),
		}},
		{"compact at a saved snapshot returns ErrCompacted", []logStep{
			saveStep(nil, nil, snapshot(10, 2, 1)),
			compactStep(10),
		}},
	}
	for _, script := range scripts {
		t.Run(script.name, func(t *testing.T) {
			store, reopen := newStore(t)
			m := newLogModel()
			checkMatches(t, store, m)
			for _, step := range script.steps {
				step(t, store, m)
				checkMatches(t, store, m)
			}
			if reopen != nil {
				store = reopenLogStore(t, store, reopen)
				checkMatches(t, store, m)
			}
			closeLogStore(t, store)
		})
	}

	t.Run("random operations match the reference model", func(t *testing.T) {
		testRandomOperations(t, newStore)
	})
	t.Run("entries honour maxSize and return at least one entry", func(t *testing.T) {
		testEntriesMaxSize(t, newStore)
	})
	t.Run("entries and term outside the log return ErrCompacted or ErrUnavailable", func(t *testing.T) {
		testOutOfRange(t, newStore)
	})
	t.Run("returned objects are the caller's", func(t *testing.T) {
		testReturnedObjectsAreFresh(t, newStore)
	})
	t.Run("saved objects are copied", func(t *testing.T) {
		testSavedObjectsAreCopied(t, newStore)
	})
	t.Run("closed store returns ErrClosed", func(t *testing.T) {
		testClosed(t, newStore)
	})
	t.Run("concurrent reads during saves see a consistent log", func(t *testing.T) {
		testConcurrentReads(t, newStore)
	})
	t.Run("reopen preserves a long log across many saves", func(t *testing.T) {
		testReopenLongLog(t, newStore)
	})
}

func reopenLogStore(t *testing.T, store raftcore.LogStore, reopen Reopen[raftcore.LogStore]) raftcore.LogStore {
	t.Helper()
	closeLogStore(t, store)
	return reopen(t)
}

func closeLogStore(t *testing.T, store raftcore.LogStore) {
	t.Helper()
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testRandomOperations(t *testing.T, newStore LogStoreFactory) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	for round := range 3 {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(round)))
		store, reopen := newStore(t)
		m := newLogModel()
		var term uint64 = 1
		for op := range 150 {
			switch k := rng.IntN(20); {
			case k < 10: // append or overwrite a suffix
				lo := m.firstIndex() + uint64(rng.IntN(len(m.entries)+1))
				if rng.IntN(4) > 0 {
					lo = m.lastIndex() + 1
				}
				if lo <= m.lastIndex() {
					term++
				}
				hi := lo + uint64(rng.IntN(6))
				var hs *raftpb.HardState
				if rng.IntN(2) == 0 {
					hs = hardState(term, uint64(rng.IntN(3)), lo-1)
				}
				saveStep(hs, makeEntries(lo, hi, term), nil)(t, store, m)
			case k < 11: // an invalid append
				lo := m.lastIndex() + 2 + uint64(rng.IntN(3))
				saveStep(nil, makeEntries(lo, lo+1, term), nil)(t, store, m)
			case k < 13: // a snapshot from a leader, maybe with entries
				term++
				index := max(m.snapshot.GetIndex(), m.lastIndex()) + uint64(rng.IntN(5))
				if rng.IntN(5) == 0 {
					index = m.snapshot.GetIndex() // out of date
				}
				var entries []*raftpb.Entry
				if rng.IntN(2) == 0 {
					entries = makeEntries(index+1, index+uint64(rng.IntN(4)), term)
				}
				saveStep(hardState(term, 0, index), entries, snapshot(index, term, 1, uint64(2+rng.IntN(3))))(t, store, m)
			case k < 16: // a local snapshot
				if m.lastIndex() == 0 {
					continue
				}
				span := max(int64(m.lastIndex())-int64(m.snapshot.GetIndex()), 0)
				index := m.snapshot.GetIndex() + uint64(rng.Int64N(span+2))
				var snapTerm uint64
				if index >= m.dummyIndex && index <= m.lastIndex() {
					snapTerm = m.term(index)
				}
				setSnapshotStep(snapshotMeta(index, snapTerm, 1, 2))(t, store, m)
			case k < 18:
				compactStep(m.dummyIndex+uint64(rng.IntN(int(m.snapshot.GetIndex()-m.dummyIndex)+3)))(t, store, m)
			default:
				if reopen != nil {
					store = reopenLogStore(t, store, reopen)
				}
			}
			if t.Failed() {
				t.Fatalf("seed %d round %d: failed at operation %d", seed, round, op)
			}
			checkMatches(t, store, m)
		}
		closeLogStore(t, store)
	}
}

func testEntriesMaxSize(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	defer closeLogStore(t, store)
	entries := makeEntries(1, 10, 1)
	if err := store.Save(nil, entries, nil); err != nil {
		t.Fatal(err)
	}
	size := func(lo, hi uint64) uint64 {
		var s uint64
		for i := lo; i < hi; i++ {
			s += encodedSize(entries[i-1])
		}
		return s
	}
	cases := []struct {
		name    string
		lo, hi  uint64
		maxSize uint64
		want    int
	}{
		{"no limit returns all", 1, 11, noLimit, 10},
		{"hi bounds the range", 2, 5, noLimit, 3},
		{"zero limit returns one entry", 1, 11, 0, 1},
		{"limit below the first entry returns one entry", 3, 11, size(3, 4) - 1, 1},
		{"limit equal to one entry returns one entry", 3, 11, size(3, 4), 1},
		{"limit equal to three entries returns three", 2, 11, size(2, 5), 3},
		{"limit just under three entries returns two", 2, 11, size(2, 5) - 1, 2},
		{"limit just over three entries returns three", 2, 11, size(2, 5) + 1, 3},
		{"limit equal to the range returns the range", 1, 11, size(1, 11), 10},
		{"single entry range", 10, 11, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := store.Entries(c.lo, c.hi, c.maxSize)
			if err != nil {
				t.Fatalf("Entries(%d, %d, %d): %v", c.lo, c.hi, c.maxSize, err)
			}
			if err := entriesEqual(got, entries[c.lo-1:c.lo-1+uint64(c.want)]); err != nil {
				t.Fatalf("Entries(%d, %d, %d): %v", c.lo, c.hi, c.maxSize, err)
			}
		})
	}
}

func testOutOfRange(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	defer closeLogStore(t, store)
	if err := store.Save(nil, makeEntries(1, 10, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := store.SetSnapshot(snapshotMeta(5, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := store.Compact(4); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		lo, hi uint64
		want   error
	}{
		{"lo at the dummy entry", 4, 8, raft.ErrCompacted},
		{"lo below the dummy entry", 2, 8, raft.ErrCompacted},
		{"lo zero", 0, 8, raft.ErrCompacted},
		{"hi beyond last index plus one", 5, 12, raft.ErrUnavailable},
		{"lo beyond last index", 11, 13, raft.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run("entries with "+c.name, func(t *testing.T) {
			if _, err := store.Entries(c.lo, c.hi, noLimit); !errors.Is(err, c.want) {
				t.Fatalf("Entries(%d, %d): error %v, want %v", c.lo, c.hi, err, c.want)
			}
		})
	}
	terms := []struct {
		index uint64
		term  uint64
		want  error
	}{
		{3, 0, raft.ErrCompacted},
		{4, 1, nil},
		{10, 1, nil},
		{11, 0, raft.ErrUnavailable},
		{1 << 40, 0, raft.ErrUnavailable},
	}
	for _, c := range terms {
		t.Run(fmt.Sprintf("term of %d", c.index), func(t *testing.T) {
			term, err := store.Term(c.index)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) || term != c.term {
				t.Fatalf("Term(%d) = %d, %v; want %d, %v", c.index, term, err, c.term, c.want)
			}
		})
	}
}

func testReturnedObjectsAreFresh(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	defer closeLogStore(t, store)
	m := newLogModel()
	saveStep(hardState(1, 1, 2), makeEntries(1, 5, 1), nil)(t, store, m)
	setSnapshotStep(snapshotMeta(3, 1, 1, 2, 3))(t, store, m)

	got, err := store.Entries(1, 6, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		*e.Index += 100
		*e.Term += 100
		if len(e.Data) > 0 {
			e.Data[0] ^= 0xff
		}
	}
	got = got[:2]
	_ = append(got, makeEntries(50, 52, 9)...)
	hs, cs, err := store.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	if hs != nil {
		hs.Commit = new(uint64(99))
	}
	cs.Voters = append(cs.Voters[:0], 42)
	snap, err := store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	snap.Metadata.Index = new(uint64(77))
	snap.Metadata.ConfState.Voters = append(snap.Metadata.ConfState.Voters[:0], 43)
	checkMatches(t, store, m)
}

func testSavedObjectsAreCopied(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	defer closeLogStore(t, store)
	m := newLogModel()
	entries := makeEntries(1, 5, 1)
	hs := hardState(1, 1, 2)
	saveStep(hs, entries, nil)(t, store, m)
	meta := snapshotMeta(3, 1, 1, 2, 3)
	setSnapshotStep(meta)(t, store, m)
	for _, e := range entries {
		e.Data[0] ^= 0xff
		*e.Term = 7
	}
	*hs.Commit = 99
	meta.ConfState.Voters[0] = 42
	checkMatches(t, store, m)
}

func testClosed(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	if err := store.Save(nil, makeEntries(1, 3, 1), nil); err != nil {
		t.Fatal(err)
	}
	closeLogStore(t, store)
	calls := []struct {
		name string
		call func() error
	}{
		{"Save", func() error { return store.Save(hardState(1, 1, 1), makeEntries(4, 4, 1), nil) }},
		{"SetSnapshot", func() error { return store.SetSnapshot(snapshotMeta(2, 1, 1)) }},
		{"Compact", func() error { return store.Compact(1) }},
		{"Entries", func() error { _, err := store.Entries(1, 3, noLimit); return err }},
		{"Term", func() error { _, err := store.Term(2); return err }},
		{"FirstIndex", func() error { _, err := store.FirstIndex(); return err }},
		{"LastIndex", func() error { _, err := store.LastIndex(); return err }},
		{"InitialState", func() error { _, _, err := store.InitialState(); return err }},
		{"Snapshot", func() error { _, err := store.Snapshot(); return err }},
		{"Close", store.Close},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, raftcore.ErrClosed) {
				t.Fatalf("%s after Close: error %v, want ErrClosed", c.name, err)
			}
		})
	}
}

// testConcurrentReads saves batches while readers check that every view of
// the log they get is internally consistent. Run it with -race.
func testConcurrentReads(t *testing.T, newStore LogStoreFactory) {
	store, _ := newStore(t)
	defer closeLogStore(t, store)
	const batches, batchSize = 40, 5
	done := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := checkReadableTail(store); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for b := range batches {
		lo := uint64(b*batchSize + 1)
		if err := store.Save(hardState(1, 1, lo-1), makeEntries(lo, lo+batchSize-1, 1), nil); err != nil {
			t.Errorf("Save: %v", err)
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func checkReadableTail(store raftcore.LogStore) error {
	last, err := store.LastIndex()
	if err != nil {
		return fmt.Errorf("LastIndex: %w", err)
	}
	if last == 0 {
		return nil
	}
	// Entries are only appended in this test, so whatever LastIndex said
	// stays readable.
	lo := max(1, last-4)
	got, err := store.Entries(lo, last+1, noLimit)
	if err != nil {
		return fmt.Errorf("Entries(%d, %d): %w", lo, last+1, err)
	}
	for i, e := range got {
		if e.GetIndex() != lo+uint64(i) || e.GetTerm() != 1 {
			return fmt.Errorf("Entries(%d, %d) returned %s at position %d", lo, last+1, describeEntry(e), i)
		}
	}
	if term, err := store.Term(last); err != nil || term != 1 {
		return fmt.Errorf("Term(%d) = %d, %v", last, term, err)
	}
	return nil
}

func testReopenLongLog(t *testing.T, newStore LogStoreFactory) {
	store, reopen := newStore(t)
	m := newLogModel()
	var term uint64 = 1
	for b := range 20 {
		lo := m.lastIndex() + 1
		if b%7 == 6 {
			lo -= 10 // a conflicting suffix
			term++
		}
		saveStep(hardState(term, 1, lo-1), makeEntries(lo, lo+49, term), nil)(t, store, m)
		if b%5 == 4 {
			setSnapshotStep(snapshotMeta(lo, m.term(lo), 1, 2, 3))(t, store, m)
			compactStep(lo-20)(t, store, m)
		}
	}
	checkMatches(t, store, m)
	if reopen != nil {
		for range 2 {
			store = reopenLogStore(t, store, reopen)
			checkMatches(t, store, m)
		}
	}
	closeLogStore(t, store)
}
