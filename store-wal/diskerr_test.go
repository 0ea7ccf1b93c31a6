package storewal

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// diskOp is one operation of the store on its data directory, as faultFS
// sees it.
type diskOp struct {
	// kind is "write", "syncdata", "sync", "read", "size", "create", "open"
	// (of an existing file), "rename", "remove", "syncdir", "readdir" or
	// "lock".
	kind string
	name string // the file's base name; for rename, the old one
	to   string // rename's new base name
	off  int64  // where a read starts
	// record is the kind of the record a write carries, or that the
	// file's last write carried for a syncdata: kindBatch, kindSeal, or 0
	// for zeros (a segment being filled).
	record byte
}

// faultFS is a fileSystem whose operations fail with err when fails
// selects them while it is armed, or always selects them. It counts the
// failures it injected, of each kind.
type faultFS struct {
	fileSystem
	fails func(diskOp) bool
	// always, if set, selects operations that fail armed or not.
	always func(diskOp) bool
	err    error
	armed  atomic.Bool
	fired  atomic.Int64 // failures injected while armed
	// firedAlways counts the failures always selected.
	firedAlways atomic.Int64
	// ended, once set, makes every operation count in late: nothing may
	// reach the disk after a failed Open has returned.
	ended atomic.Bool
	late  atomic.Int64
}

func (fs *faultFS) inject(op diskOp) error {
	if fs.ended.Load() {
		fs.late.Add(1)
	}
	switch {
	case fs.armed.Load() && fs.fails(op):
		fs.fired.Add(1)
	case fs.always != nil && fs.always(op):
		fs.firedAlways.Add(1)
	default:
		return nil
	}
	return &os.PathError{Op: op.kind, Path: op.name, Err: fs.err}
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	kind := "open"
	if flag&os.O_CREATE != 0 {
		kind = "create"
	}
	if err := fs.inject(diskOp{kind: kind, name: filepath.Base(name)}); err != nil {
		return nil, err
	}
	f, err := fs.fileSystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: f, fs: fs, name: filepath.Base(name)}, nil
}

func (fs *faultFS) Rename(oldname, newname string) error {
	if err := fs.inject(diskOp{kind: "rename", name: filepath.Base(oldname), to: filepath.Base(newname)}); err != nil {
		return err
	}
	return fs.fileSystem.Rename(oldname, newname)
}

func (fs *faultFS) Remove(name string) error {
	if err := fs.inject(diskOp{kind: "remove", name: filepath.Base(name)}); err != nil {
		return err
	}
	return fs.fileSystem.Remove(name)
}

func (fs *faultFS) ReadDir(name string) ([]string, error) {
	if err := fs.inject(diskOp{kind: "readdir", name: filepath.Base(name)}); err != nil {
		return nil, err
	}
	return fs.fileSystem.ReadDir(name)
}

func (fs *faultFS) Lock(name string) (io.Closer, error) {
	if err := fs.inject(diskOp{kind: "lock", name: filepath.Base(name)}); err != nil {
		return nil, err
	}
	return fs.fileSystem.Lock(name)
}

func (fs *faultFS) SyncDir(name string) error {
	if err := fs.inject(diskOp{kind: "syncdir", name: filepath.Base(name)}); err != nil {
		return err
	}
	return fs.fileSystem.SyncDir(name)
}

// faultFile is a file of a faultFS. Only one goroutine writes a file (the
// writer, or the one making a spare), so lastRecord needs no lock.
type faultFile struct {
	file
	fs         *faultFS
	name       string
	lastRecord byte
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	var record byte
	if len(p) > headerSize {
		record = p[headerSize]
	}
	f.lastRecord = record
	if err := f.fs.inject(diskOp{kind: "write", name: f.name, record: record}); err != nil {
		return 0, err
	}
	return f.file.WriteAt(p, off)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.inject(diskOp{kind: "read", name: f.name, off: off}); err != nil {
		return 0, err
	}
	return f.file.ReadAt(p, off)
}

func (f *faultFile) Size() (int64, error) {
	if err := f.fs.inject(diskOp{kind: "size", name: f.name}); err != nil {
		return 0, err
	}
	return f.file.Size()
}

func (f *faultFile) Sync() error {
	if err := f.fs.inject(diskOp{kind: "sync", name: f.name, record: f.lastRecord}); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *faultFile) SyncData() error {
	if err := f.fs.inject(diskOp{kind: "syncdata", name: f.name, record: f.lastRecord}); err != nil {
		return err
	}
	return f.file.SyncData()
}

func isSegment(name string) bool {
	_, ok := parseSegmentName(name)
	return ok
}

func creatingSpare(op diskOp) bool { return op.kind == "create" && isSpareName(op.name) }

// TestDiskErrorsFailTheStoreLoudly injects write, sync, rename and create
// errors into a store running the shared workload on 1 MiB segments,
// padded so that segments fill and roll over. The operation that meets the
// error fails with ErrStoreFailed, every later call returns it (after a
// failed fdatasync the kernel may have dropped the dirty pages, so nothing
// may be acknowledged on top of them), Close returns, and the directory
// reopens on a healthy disk to the last acknowledged state or the one the
// failed operation would have made.
func TestDiskErrorsFailTheStoreLoudly(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		fails func(diskOp) bool
		// noSpares makes the creation of every spare fail, armed or not, so
		// that a rollover makes its segment itself.
		noSpares bool
	}{
		{"a record's write fails with ENOSPC", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "write" && op.record == kindBatch
		}, false},
		{"a record's fdatasync fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "syncdata" && op.record == kindBatch
		}, false},
		{"writing the seal fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "write" && op.record == kindSeal
		}, false},
		{"the seal's fdatasync fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "syncdata" && op.record == kindSeal
		}, false},
		{"renaming a spare into a segment fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "rename" && isSpareName(op.name) && isSegment(op.to)
		}, false},
		{"syncing the directory at a rollover fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "syncdir"
		}, false},
		{"creating a segment fails with ENOSPC, no spare made", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "create" && isSegment(op.name)
		}, true},
		{"zero-filling a segment fails with ENOSPC, no spare made", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "write" && op.record == 0 && isSegment(op.name)
		}, true},
		{"a new segment's fsync fails with EIO, no spare made", syscall.EIO, func(op diskOp) bool {
			return op.kind == "sync" && isSegment(op.name)
		}, true},
	}
	seed := testseed.Get(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			cfg := Config{Dir: t.TempDir(), SegmentSize: minSegmentSize}
			fs := &faultFS{fileSystem: osFS{}, err: c.err, fails: c.fails}
			if c.noSpares {
				fs.always = creatingSpare
			}
			store, err := open(cfg, fs)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			// Acknowledged operations, all in the first segment.
			var state storetest.LogState
			for range 20 {
				op := storetest.NextOp(rng, state)
				if err := op.Apply(store); err != nil {
					t.Fatalf("%s: %v", op.Name, err)
				}
				state = op.Next
			}

			fs.armed.Store(true)
			var (
				failure    error
				failed     string
				candidates []storetest.LogState
			)
			for step := 0; failure == nil; step++ {
				if step == 5000 {
					t.Fatalf("%d operations, none met the injected error", step)
				}
				op := storetest.NextOp(rng, state)
				if err := op.Apply(store); err != nil {
					failure, failed, candidates = err, op.Name, []storetest.LogState{state, op.Next}
					break
				}
				if n := fs.fired.Load(); n > 0 {
					t.Fatalf("%s succeeded after %d injected failures", op.Name, n)
				}
				state = op.Next
				if err := padLatching(rng, store); err != nil {
					failure, failed, candidates = err, "padding", []storetest.LogState{state}
				} else if n := fs.fired.Load(); n > 0 {
					t.Fatalf("padding succeeded after %d injected failures", n)
				}
			}
			if fs.fired.Load() == 0 || !errors.Is(failure, ErrStoreFailed) || !errors.Is(failure, c.err) {
				t.Fatalf("%s: error %v after %d injected failures; want one wrapping ErrStoreFailed and %v",
					failed, failure, fs.fired.Load(), c.err)
			}
			checkLatched(t, store, state)
			within(t, 10*time.Second, "Close of the failed store", store.Close)

			fs.armed.Store(false)
			if _, err := recoversOneOf(fs, cfg, candidates); err != nil {
				t.Fatalf("after %s failed: reopened on a healthy disk: %v", failed, err)
			}
		})
	}
}

// checkLatched checks that every call on the failed store, in state
// before its failure, returns ErrStoreFailed.
func checkLatched(t *testing.T, s *LogStore, state storetest.LogState) {
	t.Helper()
	calls := map[string]func() error{
		"Save": func() error {
			return storetest.NextOp(rand.New(rand.NewPCG(0, 0)), state).Apply(s)
		},
		"Save of entries": func() error {
			return s.Save(nil, []*raftpb.Entry{storetest.WorkloadEntry(state.LastIndex()+1, max(state.HardState[0], 1))}, nil)
		},
		"SetSnapshot": func() error {
			return s.SetSnapshot(&raftpb.SnapshotMetadata{Index: new(state.LastIndex()), Term: new(max(state.HardState[0], 1))})
		},
		"Compact":    func() error { return s.Compact(state.DummyIndex + 1) },
		"LastIndex":  func() error { _, err := s.LastIndex(); return err },
		"FirstIndex": func() error { _, err := s.FirstIndex(); return err },
		"Entries": func() error {
			_, err := s.Entries(state.DummyIndex+1, state.LastIndex()+1, 1<<20)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrStoreFailed) {
			t.Errorf("%s after the failure: error %v, want ErrStoreFailed", name, err)
		}
	}
}

// padLatching appends, two times in five, a record that changes nothing,
// of up to 96 KiB, through logkv.Log.Commit as a Save's record goes: a
// failure latches the store.
func padLatching(rng *rand.Rand, s *LogStore) error {
	if rng.IntN(5) >= 2 {
		return nil
	}
	deletions := rng.IntN(96 << 10 / 12)
	s.log.WriteMu.Lock()
	defer s.log.WriteMu.Unlock()
	if err := s.log.Usable(); err != nil {
		return err
	}
	return s.log.Commit(s.log.State(), false, ErrStoreFailed, func([]byte) error { return s.w.pad(deletions) }, nil)
}

// TestSpareThatCannotBeMadeIsNotFatal makes the making of every spare
// fail, at its creation or at its fsync: each rollover makes its segment
// itself, and no Save fails.
func TestSpareThatCannotBeMadeIsNotFatal(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		always func(diskOp) bool
	}{
		{"creating a spare fails with ENOSPC", syscall.ENOSPC, creatingSpare},
		{"a spare's fsync fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "sync" && isSpareName(op.name)
		}},
	}
	seed := testseed.Get(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 100))
			warnings := &warningLog{}
			cfg := Config{Dir: t.TempDir(), SegmentSize: minSegmentSize, Logger: warnings.logger()}
			fs := &faultFS{fileSystem: osFS{}, err: c.err, always: c.always}
			store, err := open(cfg, fs)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			state := workUntilSegment(t, rng, store, 4)
			if fs.firedAlways.Load() == 0 {
				t.Fatal("no spare was attempted")
			}
			if !warnings.has("a spare segment could not be made", c.err.Error()) {
				t.Fatalf("the failed spares were not logged: %q", warnings.lines())
			}
			mustClose(t, store)
			// A spare that failed is removed (those of recycled segments may stay).
			if _, spares, err := listSegments(osFS{}, cfg.Dir); err != nil || slices.Contains(spares, madeSpare) {
				t.Fatalf("%s left after its making failed: spares %v (listing: %v)", madeSpare, spares, err)
			}
			if _, err := recoversOneOf(osFS{}, cfg, []storetest.LogState{state}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSpareThatCannotBeReusedIsReplaced makes the reuse of every spare
// segment fail, at its opening or its sizing, at each rollover of a running
// store, and at an Open that finds a spare but no segment. A spare holds
// nothing of the log, so no Save fails: the spare is removed, the next one
// or a new segment takes its place, and the failure is logged. A spare
// whose removal fails too stays on disk, and the next Open lists it again.
func TestSpareThatCannotBeReusedIsReplaced(t *testing.T) {
	sizingSpare := func(op diskOp) bool { return op.kind == "size" && isSpareName(op.name) }
	cases := []struct {
		name   string
		always func(diskOp) bool
		// atOpen removes the only segment of a new store, closed, leaving
		// its spare, as a crash does in a rollover that replaces an empty
		// first segment (a first Save larger than a segment): Open makes
		// the first segment from the spare.
		atOpen bool
		// removalFails is set when always also fails the spares' removal.
		removalFails bool
	}{
		{"opening a spare fails with EIO", func(op diskOp) bool {
			return op.kind == "open" && isSpareName(op.name)
		}, false, false},
		{"sizing a spare fails with EIO", sizingSpare, false, false},
		{"sizing and removing a spare fail with EIO", func(op diskOp) bool {
			return sizingSpare(op) || op.kind == "remove" && isSpareName(op.name)
		}, false, true},
		{"sizing the spare Open takes fails with EIO", sizingSpare, true, false},
	}
	seed := testseed.Get(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 200+uint64(i)))
			warnings := &warningLog{}
			cfg := Config{Dir: t.TempDir(), SegmentSize: minSegmentSize, Logger: warnings.logger()}
			if c.atOpen {
				mustClose(t, mustOpen(t, cfg, osFS{}))
				if err := os.Remove(filepath.Join(cfg.Dir, segmentName(1))); err != nil {
					t.Fatal(err)
				}
			}
			var (
				mu   sync.Mutex
				kept []string // spares whose removal failed
			)
			fs := &faultFS{fileSystem: osFS{}, err: syscall.EIO, always: func(op diskOp) bool {
				fails := c.always(op)
				if fails && op.kind == "remove" {
					mu.Lock()
					kept = append(kept, op.name)
					mu.Unlock()
				}
				return fails
			}}
			store := mustOpen(t, cfg, fs)
			if c.atOpen && fs.firedAlways.Load() == 0 {
				t.Fatal("Open took no spare")
			}
			state := workUntilSegment(t, rng, store, 4)
			if fs.firedAlways.Load() == 0 {
				t.Fatal("no spare was reused")
			}
			logged := []string{"a spare segment could not be reused", "reusing spare", "input/output error"}
			if c.removalFails {
				logged = append(logged, "removing spare")
			}
			if !warnings.has(logged...) {
				t.Fatalf("the spares that could not be reused were not logged as %q: %q", logged, warnings.lines())
			}
			mustClose(t, store)
			// On disk: the spares the store held, and those it dropped but
			// could not remove (unless it made one of that name again).
			_, spares, err := listSegments(osFS{}, cfg.Dir)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Concat(store.w.spares, kept)
			slices.Sort(want)
			want = slices.Compact(want)
			slices.Sort(spares)
			if !slices.Equal(spares, want) {
				t.Fatalf("spares %v on disk, want %v: held %v, removal failed for %v", spares, want, store.w.spares, kept)
			}
			if _, err := recoversOneOf(osFS{}, cfg, []storetest.LogState{state}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFailedRecyclingLeavesTheStoreUsable makes renaming and removing
// emptied segments fail. The compaction (or the snapshot's Save) that
// emptied them is durable, so it succeeds and the store goes on; the
// segments stay, still listed, and are recycled by a later compaction once
// the disk lets them, also after a reopen.
func TestFailedRecyclingLeavesTheStoreUsable(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 101))
	warnings := &warningLog{}
	cfg := Config{Dir: t.TempDir(), SegmentSize: minSegmentSize, Logger: warnings.logger()}
	fs := &faultFS{fileSystem: osFS{}, err: syscall.EIO, fails: func(op diskOp) bool {
		return (op.kind == "rename" || op.kind == "remove") && isSegment(op.name)
	}}
	fs.armed.Store(true)
	store, err := open(cfg, fs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var state storetest.LogState
	run := func(s *LogStore, until func(op string) bool) {
		t.Helper()
		for step := 0; ; step++ {
			if step == 5000 {
				t.Fatalf("%d operations and still waiting", step)
			}
			op := storetest.NextOp(rng, state)
			if err := op.Apply(s); err != nil {
				t.Fatalf("%s while recycling fails: %v", op.Name, err)
			}
			state = op.Next
			if err := padLatching(rng, s); err != nil {
				t.Fatalf("padding: %v", err)
			}
			if until(op.Name) {
				return
			}
		}
	}
	// Until recycling failed, and a few segments more.
	var after uint64
	run(store, func(string) bool {
		if after == 0 && fs.fired.Load() > 0 {
			after = store.w.curSeq + 3
		}
		return after != 0 && store.w.curSeq >= after
	})
	if diff := storetest.DiffState(store, state); diff != "" {
		t.Fatalf("after recycling failed: %s", diff)
	}
	onDisk := func(s *LogStore) []uint64 {
		t.Helper()
		seqs, _, err := listSegments(osFS{}, cfg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs, s.w.seqs) {
			t.Fatalf("segments on disk %v, the store lists %v", seqs, s.w.seqs)
		}
		return seqs
	}
	if seqs := onDisk(store); seqs[0] >= keptFrom(store) {
		t.Fatalf("no segment was left by the failed recycling: %v", seqs)
	}
	if !warnings.has("an emptied segment stays until the next compaction", "input/output error") {
		t.Fatalf("the failed recycling was not logged: %q", warnings.lines())
	}
	mustClose(t, store)

	// Leftover segments (with gaps between them) reopen to the same log,
	// and the next compaction on a healthy disk recycles them.
	fs.armed.Store(false)
	if store, err = open(cfg, fs); err != nil {
		t.Fatalf("reopening: %v", err)
	}
	if diff := storetest.DiffState(store, state); diff != "" {
		t.Fatalf("reopened: %s", diff)
	}
	run(store, func(op string) bool {
		return strings.HasPrefix(op, "compact") || strings.HasPrefix(op, "save snapshot")
	})
	seqs := onDisk(store)
	if seqs[0] != keptFrom(store) {
		t.Fatalf("segments %v left before %d, the oldest the log needs", seqs, keptFrom(store))
	}
	mustClose(t, store)
	if _, err := recoversOneOf(osFS{}, cfg, []storetest.LogState{state}); err != nil {
		t.Fatal(err)
	}
}

// keptFrom is the oldest segment the log needs: the first entry's, or the
// current one.
func keptFrom(s *LogStore) uint64 {
	for _, l := range s.w.idx.locs {
		if l.n != 0 {
			return min(l.seq, s.w.curSeq)
		}
	}
	return s.w.curSeq
}

// warningLog collects what a store logs, as text lines.
type warningLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *warningLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *warningLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *warningLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// has reports whether a warning line holds every one of parts.
func (l *warningLog) has(parts ...string) bool {
	return slices.ContainsFunc(l.lines(), func(line string) bool {
		if !strings.Contains(line, "level=WARN") {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				return false
			}
		}
		return true
	})
}

// workUntilSegment applies the storetest workload, padded, until the store
// writes segment seq (past several rollovers), and returns the log's state.
func workUntilSegment(t *testing.T, rng *rand.Rand, store *LogStore, seq uint64) storetest.LogState {
	t.Helper()
	var state storetest.LogState
	for store.w.curSeq < seq {
		op := storetest.NextOp(rng, state)
		if err := op.Apply(store); err != nil {
			t.Fatalf("%s: %v", op.Name, err)
		}
		state = op.Next
		if err := padLatching(rng, store); err != nil {
			t.Fatalf("padding: %v", err)
		}
	}
	return state
}
