package storebadger_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/store-badger"
)

var saveShapes = []struct {
	entries, size int
}{
	{1, 64}, {16, 64}, {256, 64},
	{1, 4096}, {16, 4096}, {256, 4096},
}

// payload is shared by the benchmark entries so that allocating it does not
// dominate what is measured.
var payload = make([]byte, 4096)

func benchEntries(lo uint64, n, size int) []*raftpb.Entry {
	entries := make([]*raftpb.Entry, n)
	for i := range entries {
		entries[i] = &raftpb.Entry{Index: new(lo + uint64(i)), Term: new(uint64(1)), Type: new(raftpb.EntryNormal), Data: payload[:size]}
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

func BenchmarkSave(b *testing.B) {
	for _, shape := range saveShapes {
		b.Run(fmt.Sprintf("badger/entries=%d/size=%d", shape.entries, shape.size), func(b *testing.B) {
			store, err := storebadger.Open(storebadger.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			benchmarkSave(b, store, shape.entries, shape.size)
		})
		b.Run(fmt.Sprintf("memory/entries=%d/size=%d", shape.entries, shape.size), func(b *testing.B) {
			store := raftcore.NewMemoryLogStore()
			defer store.Close()
			benchmarkSave(b, store, shape.entries, shape.size)
		})
	}
}

// BenchmarkFdatasyncFloor is the cost of the disk alone: writing the
// payload bytes of a Save into a preallocated file, as a write-ahead log does, and
// calling fdatasync. It is the floor any durable Save pays on this machine.
func BenchmarkFdatasyncFloor(b *testing.B) {
	const fileSize = 64 << 20
	for _, shape := range saveShapes {
		b.Run(fmt.Sprintf("entries=%d/size=%d", shape.entries, shape.size), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := syscall.Fallocate(int(f.Fd()), 0, 0, fileSize); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, shape.entries*shape.size)
			b.SetBytes(int64(len(buf)))
			var offset int64
			for b.Loop() {
				if offset+int64(len(buf)) > fileSize {
					offset = 0
				}
				if _, err := f.WriteAt(buf, offset); err != nil {
					b.Fatal(err)
				}
				offset += int64(len(buf))
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEntries reads 256 entries of 64 bytes from a 20,000-entry log, at
// the tail (in the memtable) and after a reopen.
func BenchmarkEntries(b *testing.B) {
	dir := b.TempDir()
	store, err := storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	const total = 20_000
	for lo := uint64(1); lo <= total; lo += 1000 {
		if err := store.Save(nil, benchEntries(lo, 1000, 64), nil); err != nil {
			b.Fatal(err)
		}
	}
	scan := func(b *testing.B, store *storebadger.LogStore) {
		lo := uint64(1)
		for b.Loop() {
			entries, err := store.Entries(lo, lo+256, ^uint64(0))
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
	store, err = storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	b.Run("after reopen", func(b *testing.B) { scan(b, store) })
}

// BenchmarkOpenLog1M measures opening (recovering) a log of a million 64-byte
// entries and reading its state and last entry. Building the log takes a
// few seconds, so it only runs when asked for with -bench.
func BenchmarkOpenLog1M(b *testing.B) {
	dir := b.TempDir()
	store, err := storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
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
		store, err := storebadger.Open(storebadger.Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
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
func BenchmarkSaveOverFdatasync(b *testing.B) {
	const n, size, fileSize = 256, 64, 64 << 20
	dir := b.TempDir()
	store, err := storebadger.Open(storebadger.Config{Dir: filepath.Join(dir, "log")})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	f, err := os.Create(filepath.Join(dir, "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, fileSize); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, n*size)
	var saves, floors []time.Duration
	next := uint64(1)
	var offset int64
	for b.Loop() {
		entries := benchEntries(next, n, size)
		hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(next - 1)}
		start := time.Now()
		if err := store.Save(hs, entries, nil); err != nil {
			b.Fatal(err)
		}
		saves = append(saves, time.Since(start))
		next += n

		if offset+int64(len(buf)) > fileSize {
			offset = 0
		}
		start = time.Now()
		if _, err := f.WriteAt(buf, offset); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		floors = append(floors, time.Since(start))
		offset += int64(len(buf))
	}
	save, floor := median(saves), median(floors)
	b.ReportMetric(float64(save.Nanoseconds()), "save-p50-ns")
	b.ReportMetric(float64(floor.Nanoseconds()), "fdatasync-p50-ns")
	b.ReportMetric(float64(save)/float64(floor), "save/fdatasync")
}

func median(durations []time.Duration) time.Duration {
	slices.Sort(durations)
	return durations[len(durations)/2]
}
