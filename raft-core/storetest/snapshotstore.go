package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// SnapshotStoreFactory returns a new, empty snapshot store and, for a durable
// store, a Reopen function over the same data (nil for an in-memory store).
// The factory cleans up the data.
type SnapshotStoreFactory func(t *testing.T) (raftcore.SnapshotStore, Reopen[raftcore.SnapshotStore])

// RunSnapshotStore runs the SnapshotStore conformance suite against the
// stores newStore returns.
func RunSnapshotStore(t *testing.T, newStore SnapshotStoreFactory) {
	cases := []struct {
		name string
		run  func(t *testing.T, store raftcore.SnapshotStore, reopen func() raftcore.SnapshotStore)
	}{
		{"committed snapshot reads back with its metadata", testSnapshotRoundTrip},
		{"snapshot without data reads back empty", testEmptySnapshot},
		{"large snapshot streams through small writes and reads", testLargeSnapshot},
		{"nothing is visible before commit", testInvisibleBeforeCommit},
		{"abort discards the snapshot", testAbort},
		{"abort after commit does nothing", testAbortAfterCommit},
		{"unknown index returns ErrSnapshotNotFound", testUnknownSnapshot},
		{"list returns newest first", testListNewestFirst},
		{"commit at an existing index replaces it", testReplaceSameIndex},
		{"prune keeps the newest", testPrune},
		{"prune below one fails", testPruneInvalid},
		{"delete removes one snapshot", testDelete},
		{"concurrent creates commit independently", testConcurrentCreates},
		{"reopen preserves committed snapshots only", testSnapshotReopen},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, reopen := newStore(t)
			c.run(t, store, func() raftcore.SnapshotStore {
				if reopen == nil {
					return store
				}
				return reopen(t)
			})
		})
	}
}

func testMeta(index, term uint64, voters ...uint64) raftcore.SnapshotMeta {
	return raftcore.SnapshotMeta{
		Index:     index,
		Term:      term,
		ConfState: &raftpb.ConfState{Voters: voters, Learners: []uint64{9}, AutoLeave: new(false)},
	}
}

func testData(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	data := make([]byte, size)
	for i := range data {
		// Half random, half repetitive, so that compression has work to do.
		if i%64 < 32 {
			data[i] = byte(rng.Uint32())
		} else {
			data[i] = byte(i)
		}
	}
	return data
}

func commitSnapshot(t *testing.T, store raftcore.SnapshotStore, meta raftcore.SnapshotMeta, data []byte) {
	t.Helper()
	sink, err := store.Create(meta)
	if err != nil {
		t.Fatalf("Create(%d): %v", meta.Index, err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := sink.Commit(); err != nil {
		t.Fatalf("Commit(%d): %v", meta.Index, err)
	}
}

// checkSnapshot opens the snapshot at meta.Index and compares its metadata
// and data.
func checkSnapshot(t *testing.T, store raftcore.SnapshotStore, meta raftcore.SnapshotMeta, data []byte) {
	t.Helper()
	got, r, err := store.Open(meta.Index)
	if err != nil {
		t.Fatalf("Open(%d): %v", meta.Index, err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close reader: %v", err)
		}
	}()
	checkMeta(t, got, meta, int64(len(data)))
	read, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading snapshot %d: %v", meta.Index, err)
	}
	if !bytes.Equal(read, data) {
		t.Fatalf("snapshot %d: read %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			meta.Index, len(read), sha256.Sum256(read), len(data), sha256.Sum256(data))
	}
}

func checkMeta(t *testing.T, got, want raftcore.SnapshotMeta, size int64) {
	t.Helper()
	if got.Index != want.Index || got.Term != want.Term || got.Size != size ||
		!confStateEqual(got.ConfState, want.ConfState) {
		t.Fatalf("metadata = {index %d term %d size %d conf %v}, want {index %d term %d size %d conf %v}",
			got.Index, got.Term, got.Size, got.ConfState, want.Index, want.Term, size, want.ConfState)
	}
}

func listIndexes(t *testing.T, store raftcore.SnapshotStore) []uint64 {
	t.Helper()
	metas, err := store.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	indexes := []uint64{}
	for _, m := range metas {
		indexes = append(indexes, m.Index)
	}
	return indexes
}

func checkList(t *testing.T, store raftcore.SnapshotStore, want ...uint64) {
	t.Helper()
	if want == nil {
		want = []uint64{}
	}
	if got := listIndexes(t, store); !slices.Equal(got, want) {
		t.Fatalf("List indexes = %v, want %v", got, want)
	}
}

func testSnapshotRoundTrip(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	meta, data := testMeta(10, 2, 1, 2, 3), testData(1, 100_000)
	commitSnapshot(t, store, meta, data)
	checkSnapshot(t, store, meta, data)
	metas, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 {
		t.Fatalf("List returned %d snapshots, want 1", len(metas))
	}
	checkMeta(t, metas[0], meta, int64(len(data)))
}

func testEmptySnapshot(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	meta := testMeta(3, 1, 1)
	sink, err := store.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, store, meta, nil)
}

func testLargeSnapshot(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	meta, data := testMeta(1000, 7, 1, 2, 3), testData(2, 4<<20+13)
	sink, err := store.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1000+len(rest)%7919)
		if _, err := sink.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := sink.Commit(); err != nil {
		t.Fatal(err)
	}
	got, r, err := store.Open(meta.Index)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkMeta(t, got, meta, int64(len(data)))
	hash := sha256.New()
	buf := make([]byte, 4093)
	if _, err := io.CopyBuffer(struct{ io.Writer }{hash}, struct{ io.Reader }{r}, buf); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(hash.Sum(nil), want[:]) {
		t.Fatalf("large snapshot data differs")
	}
}

func testInvisibleBeforeCommit(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	commitSnapshot(t, store, testMeta(5, 1, 1), []byte("five"))
	sink, err := store.Create(testMeta(8, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("eight, not committed")); err != nil {
		t.Fatal(err)
	}
	checkList(t, store, 5)
	if _, _, err := store.Open(8); !errors.Is(err, raftcore.ErrSnapshotNotFound) {
		t.Fatalf("Open of an uncommitted snapshot: error %v, want ErrSnapshotNotFound", err)
	}
	if err := sink.Commit(); err != nil {
		t.Fatal(err)
	}
	checkList(t, store, 8, 5)
}

func testAbort(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	sink, err := store.Create(testMeta(4, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("discarded")); err != nil {
		t.Fatal(err)
	}
	if err := sink.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := sink.Commit(); err == nil {
		t.Fatalf("Commit after Abort succeeded")
	}
	checkList(t, store)
	if _, _, err := store.Open(4); !errors.Is(err, raftcore.ErrSnapshotNotFound) {
		t.Fatalf("Open of an aborted snapshot: error %v, want ErrSnapshotNotFound", err)
	}
}

func testAbortAfterCommit(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	meta := testMeta(4, 1, 1)
	sink, err := store.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	checkSnapshot(t, store, meta, []byte("kept"))
}

func testUnknownSnapshot(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	if _, _, err := store.Open(1); !errors.Is(err, raftcore.ErrSnapshotNotFound) {
		t.Fatalf("Open in an empty store: error %v, want ErrSnapshotNotFound", err)
	}
	checkList(t, store)
	commitSnapshot(t, store, testMeta(7, 1, 1), []byte("x"))
	if _, _, err := store.Open(6); !errors.Is(err, raftcore.ErrSnapshotNotFound) {
		t.Fatalf("Open(6): error %v, want ErrSnapshotNotFound", err)
	}
}

func testListNewestFirst(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	for _, index := range []uint64{30, 10, 300, 20, 1 << 40} {
		commitSnapshot(t, store, testMeta(index, 1, 1), fmt.Appendf(nil, "snapshot %d", index))
	}
	checkList(t, store, 1<<40, 300, 30, 20, 10)
}

func testReplaceSameIndex(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	commitSnapshot(t, store, testMeta(9, 1, 1), []byte("first"))
	meta := testMeta(9, 2, 1, 2)
	commitSnapshot(t, store, meta, []byte("second version"))
	checkList(t, store, 9)
	checkSnapshot(t, store, meta, []byte("second version"))
}

func testPrune(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	for index := uint64(1); index <= 6; index++ {
		commitSnapshot(t, store, testMeta(index*10, 1, 1), fmt.Appendf(nil, "snapshot %d", index*10))
	}
	steps := []struct {
		keep int
		want []uint64
	}{
		{10, []uint64{60, 50, 40, 30, 20, 10}},
		{6, []uint64{60, 50, 40, 30, 20, 10}},
		{3, []uint64{60, 50, 40}},
		{1, []uint64{60}},
		{1, []uint64{60}},
	}
	for _, s := range steps {
		if err := store.Prune(s.keep); err != nil {
			t.Fatalf("Prune(%d): %v", s.keep, err)
		}
		checkList(t, store, s.want...)
	}
	checkSnapshot(t, store, raftcore.SnapshotMeta{Index: 60, Term: 1, ConfState: testMeta(0, 0, 1).ConfState}, []byte("snapshot 60"))
	if _, _, err := store.Open(50); !errors.Is(err, raftcore.ErrSnapshotNotFound) {
		t.Fatalf("Open of a pruned snapshot: error %v, want ErrSnapshotNotFound", err)
	}
}

func testDelete(t *testing.T, store raftcore.SnapshotStore, reopen func() raftcore.SnapshotStore) {
	del, ok := store.(raftcore.SnapshotDeleter)
	if !ok {
		t.Skip("the store does not implement raftcore.SnapshotDeleter (optional)")
	}
	for _, index := range []uint64{10, 20, 30} {
		commitSnapshot(t, store, testMeta(index, 1, 1), fmt.Appendf(nil, "snapshot %d", index))
	}
	if err := del.Delete(20); err != nil {
		t.Fatalf("Delete(20): %v", err)
	}
	if err := del.Delete(25); err != nil {
		t.Fatalf("Delete of an unknown index: %v", err)
	}
	checkList(t, store, 30, 10)
	checkList(t, reopen(), 30, 10)
}

func testPruneInvalid(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	commitSnapshot(t, store, testMeta(1, 1, 1), []byte("one"))
	for _, keep := range []int{0, -1} {
		if err := store.Prune(keep); err == nil {
			t.Fatalf("Prune(%d) succeeded", keep)
		}
	}
	checkList(t, store, 1)
}

func testConcurrentCreates(t *testing.T, store raftcore.SnapshotStore, _ func() raftcore.SnapshotStore) {
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range uint64(n) {
		wg.Go(func() {
			sink, err := store.Create(testMeta(i+1, 1, 1))
			if err != nil {
				errs <- err
				return
			}
			for chunk := range 50 {
				if _, err := sink.Write(testData(i, 1000+chunk)); err != nil {
					errs <- err
					return
				}
			}
			if i == 2 {
				errs <- sink.Abort()
				return
			}
			errs <- sink.Commit()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkList(t, store, 4, 2, 1)
	var want []byte
	for chunk := range 50 {
		want = append(want, testData(3, 1000+chunk)...)
	}
	checkSnapshot(t, store, testMeta(4, 1, 1), want)
}

func testSnapshotReopen(t *testing.T, store raftcore.SnapshotStore, reopen func() raftcore.SnapshotStore) {
	metas := []raftcore.SnapshotMeta{testMeta(5, 1, 1), testMeta(15, 2, 1, 2), testMeta(25, 3, 1, 2, 3)}
	for i, meta := range metas {
		commitSnapshot(t, store, meta, testData(uint64(i), 10_000*(i+1)))
	}
	sink, err := store.Create(testMeta(35, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write([]byte("never committed")); err != nil {
		t.Fatal(err)
	}
	store = reopen()
	checkList(t, store, 25, 15, 5)
	for i, meta := range metas {
		checkSnapshot(t, store, meta, testData(uint64(i), 10_000*(i+1)))
	}
	if err := sink.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	checkList(t, store, 25, 15, 5)
}
