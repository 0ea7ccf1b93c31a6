package storewal

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// TestDiskErrorsDuringOpenFailOpenCleanly injects errors into each step of
// Open, on a new directory or on one holding a log of several segments.
// Open returns an error wrapping the injected one; nothing touches the
// directory after it returns and no goroutine is left (the spare segment
// Open may have started making is waited for); the lock is released, so a
// second Open on a healthy disk succeeds; and that Open finds the log as it
// was acknowledged before.
func TestDiskErrorsDuringOpenFailOpenCleanly(t *testing.T) {
	tmpMarker := markerFile + ".tmp"
	cases := []struct {
		name  string
		err   error
		fails func(diskOp) bool
		// existing runs Open on a directory holding a log; otherwise on a
		// new one.
		existing bool
		// noSpares removes the spare segments first, so that Open starts
		// making one before it fails.
		noSpares bool
	}{
		{"taking the lock fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "lock"
		}, true, false},
		{"listing the directory fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "readdir"
		}, true, false},
		{"listing the segments fails with EIO", syscall.EIO, nth(2, func(op diskOp) bool {
			return op.kind == "readdir"
		}), true, false},
		{"reading the format marker fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "read" && op.name == markerFile
		}, true, false},
		{"sizing the format marker fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "size" && op.name == markerFile
		}, true, false},
		{"sizing a segment to replay it fails with EIO", syscall.EIO, nth(2, func(op diskOp) bool {
			return op.kind == "size" && isSegment(op.name)
		}), true, false},
		{"opening a segment to replay it fails with EIO", syscall.EIO, nth(2, func(op diskOp) bool {
			return op.kind == "open" && isSegment(op.name)
		}), true, false},
		{"reading a segment to replay it fails with EIO", syscall.EIO, nth(2, func(op diskOp) bool {
			return op.kind == "read" && isSegment(op.name) && op.off == 0
		}), true, false},
		{"reading an entry after the replay fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "read" && isSegment(op.name) && op.off > 0
		}, true, false},
		{"reading an entry after the replay fails with EIO, a spare being made", syscall.EIO, func(op diskOp) bool {
			return op.kind == "read" && isSegment(op.name) && op.off > 0
		}, true, true},
		{"creating the format marker fails with ENOSPC", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "create" && op.name == tmpMarker
		}, false, false},
		{"writing the format marker fails with ENOSPC", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "write" && op.name == tmpMarker
		}, false, false},
		{"the format marker's fsync fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "sync" && op.name == tmpMarker
		}, false, false},
		{"creating the first segment fails with ENOSPC", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "create" && isSegment(op.name)
		}, false, false},
		{"zero-filling the first segment fails with ENOSPC", syscall.ENOSPC, func(op diskOp) bool {
			return op.kind == "write" && isSegment(op.name)
		}, false, false},
		{"the first segment's fsync fails with EIO", syscall.EIO, func(op diskOp) bool {
			return op.kind == "sync" && isSegment(op.name)
		}, false, false},
	}
	seed := testseed.Get(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Dir: filepath.Join(t.TempDir(), "data"), SegmentSize: minSegmentSize}
			var state storetest.LogState
			if c.existing {
				state = storeSeveralSegments(t, rand.New(rand.NewPCG(seed, uint64(i))), cfg)
			}
			if c.noSpares {
				_, spares, err := listSegments(osFS{}, cfg.Dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range spares {
					if err := os.Remove(filepath.Join(cfg.Dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}

			fs := &faultFS{fileSystem: osFS{}, err: c.err, fails: c.fails}
			fs.armed.Store(true)
			store, err := open(cfg, fs)
			fs.ended.Store(true)
			if err == nil {
				store.Close()
				t.Fatalf("Open succeeded after %d injected failures", fs.fired.Load())
			}
			if fs.fired.Load() == 0 || !errors.Is(err, c.err) {
				t.Fatalf("Open: error %v after %d injected failures; want one wrapping %v", err, fs.fired.Load(), c.err)
			}
			goleak.VerifyNone(t)
			if n := fs.late.Load(); n > 0 {
				t.Fatalf("%d operations reached the directory after the failed Open returned", n)
			}

			if _, err := recoversOneOf(osFS{}, cfg, []storetest.LogState{state}); err != nil {
				t.Fatalf("reopened on a healthy disk after the failed Open: %v", err)
			}
		})
	}
}

// nth selects the operations that selects picks, from the k-th of them on.
func nth(k int64, selects func(diskOp) bool) func(diskOp) bool {
	var n atomic.Int64
	return func(op diskOp) bool { return selects(op) && n.Add(1) >= k }
}

// storeSeveralSegments runs the shared workload on a store in cfg.Dir until
// the log holds two entries or more, pads it until the store holds three
// segments, closes it and returns its state.
func storeSeveralSegments(t *testing.T, rng *rand.Rand, cfg Config) storetest.LogState {
	t.Helper()
	store, err := open(cfg, osFS{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var state storetest.LogState
	for step := 0; step < 20 || len(state.Terms) < 2; step++ {
		if step == 5000 {
			t.Fatalf("%d operations and the log holds %d entries", step, len(state.Terms))
		}
		op := storetest.NextOp(rng, state)
		if err := op.Apply(store); err != nil {
			t.Fatalf("%s: %v", op.Name, err)
		}
		state = op.Next
	}
	for len(store.w.seqs) < 3 {
		if err := padLatching(rng, store); err != nil {
			t.Fatalf("padding: %v", err)
		}
	}
	mustClose(t, store)
	return state
}
