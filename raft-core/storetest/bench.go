package storetest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// BenchStore names a way to open a store for the benchmarks.
type BenchStore struct {
	Name string
	// Open opens an empty store; the benchmark closes it.
	Open func(b *testing.B) raftcore.LogStore
}

// saveShapes are the Saves the benchmarks write: entries per Save and bytes
// per entry.
var saveShapes = []struct {
	entries, size int
}{
	{1, 64}, {16, 64}, {256, 64},
	{1, 4096}, {16, 4096}, {256, 4096},
}

// benchPayload is shared by the benchmark entries so that allocating it does
// not dominate what is measured.
var benchPayload = make([]byte, 4096)

func benchEntries(lo uint64, n, size int) []*raftpb.Entry {
	entries := make([]*raftpb.Entry, n)
	for i := range entries {
		entries[i] = &raftpb.Entry{Index: new(lo + uint64(i)), Term: new(uint64(1)), Type: new(raftpb.EntryNormal), Data: benchPayload[:size]}
	}
	return entries
}

// benchmarkSave appends batches of entries, each with a hard state, as the
// engine's log writer does: one Save per Ready.
func benchmarkSave(b *testing.B, store raftcore.LogStore, n, size int) {
	b.SetBytes(int64(n * size))
	next := uint64(1)
	for b.Loop() {
		entries := benchEntries(next, n, size)
		hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(next - 1)}
		if err := store.Save(hs, entries, nil); err != nil {
			b.Fatal(err)
		}
		next += uint64(n)
	}
}

// BenchmarkSave appends Saves of several shapes to each store, and to
// raftcore's MemoryLogStore for comparison, as sub-benchmarks named
// "<store>/entries=<n>/size=<bytes>".
func BenchmarkSave(b *testing.B, stores ...BenchStore) {
	stores = append(stores, BenchStore{"memory", func(*testing.B) raftcore.LogStore { return raftcore.NewMemoryLogStore() }})
	for _, shape := range saveShapes {
		for _, s := range stores {
			b.Run(fmt.Sprintf("%s/entries=%d/size=%d", s.Name, shape.entries, shape.size), func(b *testing.B) {
				store := s.Open(b)
				defer store.Close()
				benchmarkSave(b, store, shape.entries, shape.size)
			})
		}
	}
}

// BenchmarkFdatasyncFloor is the cost of the disk alone: writing the
// payload bytes of a Save into a preallocated file, as a write-ahead log
// does, and calling fdatasync. It is the floor any durable Save pays on this
// machine.
func BenchmarkFdatasyncFloor(b *testing.B) {
	for _, shape := range saveShapes {
		b.Run(fmt.Sprintf("entries=%d/size=%d", shape.entries, shape.size), func(b *testing.B) {
			floor := openFloorFile(b, filepath.Join(b.TempDir(), "floor"))
			defer floor.Close()
			buf := make([]byte, shape.entries*shape.size)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				floor.write(b, buf)
			}
		})
	}
}

// floorFile is a preallocated file written in turn and fdatasynced.
type floorFile struct {
	*os.File
	offset int64
}

const floorFileSize = 64 << 20

func openFloorFile(b *testing.B, name string) *floorFile {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := preallocate(f, floorFileSize); err != nil {
		f.Close()
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return &floorFile{File: f}
}

func (f *floorFile) write(b *testing.B, buf []byte) {
	if f.offset+int64(len(buf)) > floorFileSize {
		f.offset = 0
	}
	if _, err := f.WriteAt(buf, f.offset); err != nil {
		b.Fatal(err)
	}
	f.offset += int64(len(buf))
	if err := fdatasync(f.File); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEntries reads 256 entries of 64 bytes from a 20,000-entry log,
// at the tail and after a reopen, from the stores open opens in dir.
func BenchmarkEntries(b *testing.B, open OpenFunc) {
	dir := b.TempDir()
	store := mustOpen(b, open, dir)
	const total = 20_000
	for lo := uint64(1); lo <= total; lo += 1000 {
		if err := store.Save(nil, benchEntries(lo, 1000, 64), nil); err != nil {
			b.Fatal(err)
		}
	}
	scan := func(b *testing.B, store raftcore.LogStore) {
		lo := uint64(1)
		for b.Loop() {
			entries, err := store.Entries(lo, lo+256, noLimit)
			if err != nil || len(entries) != 256 {
				b.Fatalf("Entries: %d entries, %v", len(entries), err)
			}
			lo = (lo + 256) % (total - 256)
		}
	}
	b.Run("before reopen", func(b *testing.B) { scan(b, store) })
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	store = mustOpen(b, open, dir)
	defer store.Close()
	b.Run("after reopen", func(b *testing.B) { scan(b, store) })
}

// BenchmarkOpenLog1M measures opening (recovering) a log of a million
// 64-byte entries and reading its state and last entry. Building the log
// takes a few seconds, so it only runs when asked for with -bench.
func BenchmarkOpenLog1M(b *testing.B, open OpenFunc) {
	dir := b.TempDir()
	store := mustOpen(b, open, dir)
	const total, batch = 1_000_000, 4096
	for lo := uint64(1); lo <= total; lo += batch {
		n := min(batch, total-int(lo)+1)
		if err := store.Save(nil, benchEntries(lo, n, 64), nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		store := mustOpen(b, open, dir)
		last, err := store.LastIndex()
		if err != nil || last != total {
			b.Fatalf("LastIndex = %d, %v", last, err)
		}
		if _, err := store.Entries(last, last+1, 0); err != nil {
			b.Fatal(err)
		}
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveOverFdatasync alternates a Save of 256 entries of 64 bytes
// with the bare floor of the same bytes (a write into a preallocated file
// and fdatasync), so that both see the same disk and load, and reports the
// median of each and their ratio.
func BenchmarkSaveOverFdatasync(b *testing.B, open OpenFunc) {
	const n, size = 256, 64
	dir := b.TempDir()
	store := mustOpen(b, open, filepath.Join(dir, "log"))
	defer store.Close()
	floor := openFloorFile(b, filepath.Join(dir, "floor"))
	defer floor.Close()
	buf := make([]byte, n*size)
	var saves, floors []time.Duration
	next := uint64(1)
	for b.Loop() {
		entries := benchEntries(next, n, size)
		hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(next - 1)}
		start := time.Now()
		if err := store.Save(hs, entries, nil); err != nil {
			b.Fatal(err)
		}
		saves = append(saves, time.Since(start))
		next += n

		start = time.Now()
		floor.write(b, buf)
		floors = append(floors, time.Since(start))
	}
	save, fsync := median(saves), median(floors)
	b.ReportMetric(float64(save.Nanoseconds()), "save-p50-ns")
	b.ReportMetric(float64(fsync.Nanoseconds()), "fdatasync-p50-ns")
	b.ReportMetric(float64(save)/float64(fsync), "save/fdatasync")
}

func mustOpen(b *testing.B, open OpenFunc, dir string) raftcore.LogStore {
	b.Helper()
	store, err := open(dir)
	if err != nil {
		b.Fatalf("Open(%s): %v", dir, err)
	}
	return store
}

func median(durations []time.Duration) time.Duration {
	slices.Sort(durations)
	return durations[len(durations)/2]
}
