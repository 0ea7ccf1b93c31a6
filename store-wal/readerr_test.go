package storewal

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// TestReadErrorsAreReportedAndNotLatched makes every pread of a segment fail
// with EIO on a store reopened on a log of several segments. A failed read changes
// nothing on disk, so it is not ErrStoreFailed: Entries and Term (of an
// entry below the term cache, which holds only the last entry after a
// reopen) return an error wrapping EIO (neither ErrStoreFailed nor
// raftcore.ErrCorrupt, and no entries); what the store answers from memory
// still answers. Once the disk reads again, the same calls return the
// stored entries and terms, and a Save succeeds: the store does not latch
// read errors.
func TestReadErrorsAreReportedAndNotLatched(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 102))
	cfg := Config{Dir: t.TempDir(), SegmentSize: minSegmentSize}
	fs := &faultFS{fileSystem: osFS{}, err: syscall.EIO, fails: func(op diskOp) bool {
		return op.kind == "read" && isSegment(op.name)
	}}
	state := storeSeveralSegments(t, rng, cfg)
	store, err := open(cfg, fs)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer mustClose(t, store)
	first, last := state.DummyIndex+1, state.LastIndex()

	fs.armed.Store(true)
	entries, err := store.Entries(first, last+1, 1<<30)
	if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrStoreFailed) || errors.Is(err, raftcore.ErrCorrupt) || entries != nil {
		t.Fatalf("Entries(%d, %d) while reads fail: %d entries, error %v; want none and one wrapping EIO only",
			first, last+1, len(entries), err)
	}
	term, err := store.Term(first)
	if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrStoreFailed) || errors.Is(err, raftcore.ErrCorrupt) || term != 0 {
		t.Fatalf("Term(%d) while reads fail: %d, error %v; want 0 and an error wrapping EIO only", first, term, err)
	}
	if term, err := store.Term(last); err != nil || term != state.Terms[len(state.Terms)-1] {
		t.Fatalf("Term(%d) of the cached last entry while reads fail: %d, %v", last, term, err)
	}
	if got, err := store.LastIndex(); err != nil || got != last {
		t.Fatalf("LastIndex while reads fail: %d, %v; want %d", got, err, last)
	}
	if fs.fired.Load() == 0 {
		t.Fatal("no read met the injected error")
	}

	fs.armed.Store(false)
	// DiffState reads every entry and term back.
	if diff := storetest.DiffState(store, state); diff != "" {
		t.Fatalf("once the disk reads again: %s", diff)
	}
	if _, err := store.Entries(first, last+1, 1<<30); err != nil {
		t.Fatalf("Entries once the disk reads again: %v", err)
	}
	op := storetest.NextOp(rng, state)
	if err := op.Apply(store); err != nil {
		t.Fatalf("%s after the read errors: %v", op.Name, err)
	}
	if diff := storetest.DiffState(store, op.Next); diff != "" {
		t.Fatalf("after %s: %s", op.Name, diff)
	}
}
