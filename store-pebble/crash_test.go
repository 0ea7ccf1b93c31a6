package storepebble_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
	storepebble "github.com/jangada-io/jangada/store-pebble"
)

// TestCrashRecoversAnAcknowledgedPrefix takes crash images of the
// filesystem while a writer runs the workload, at random moments, including
// in the middle of a Save, keeping a random share of the unsynced writes.
// Each image must open to the state after one of the operations that could
// have completed: every acknowledged one, and perhaps the one in flight.
func TestCrashRecoversAnAcknowledgedPrefix(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	cfg := storepebble.Config{Dir: "/data", FS: fs}
	store := openTestStore(t, cfg)

	const images = 100
	var (
		mu     sync.Mutex
		states = []storetest.LogState{{}} // states[i]: after i operations
		acked  atomic.Int64               // operations Save acknowledged
		tokens = make(chan int)           // how many operations the writer may run next
		failed = make(chan error, 1)
	)
	writerRNG := rand.New(rand.NewPCG(seed, 2))
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := range tokens {
			for range n {
				mu.Lock()
				op := storetest.NextOp(writerRNG, states[len(states)-1])
				states = append(states, op.Next)
				mu.Unlock()
				if err := op.Apply(store); err != nil {
					failed <- errors.New(op.Name + ": " + err.Error())
					return
				}
				acked.Add(1)
			}
		}
	})
	for image := range images + 1 {
		// The writer runs a few operations while the image is taken.
		running := image < images
		if running {
			select {
			case tokens <- 1 + rng.IntN(6):
			case err := <-failed:
				close(tokens)
				wg.Wait()
				t.Fatal(err)
			}
		}
		before := acked.Load()
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
		after := acked.Load()
		if running {
			after++ // the operation in flight may have reached the disk
		}
		if image == images-1 {
			close(tokens)
			wg.Wait()
		}
		select {
		case err := <-failed:
			if image < images-1 {
				close(tokens)
				wg.Wait()
			}
			t.Fatal(err)
		default:
		}
		recovered, err := storepebble.Open(storepebble.Config{Dir: "/data", FS: clone})
		if err != nil {
			t.Fatalf("image %d: Open: %v", image, err)
		}
		mu.Lock()
		candidates := states[before:min(int(after)+1, len(states))]
		mu.Unlock()
		var diffs []string
		for _, want := range candidates {
			diff := storetest.DiffState(recovered, want)
			if diff == "" {
				diffs = nil
				break
			}
			diffs = append(diffs, diff)
		}
		if err := recovered.Close(); err != nil {
			t.Fatal(err)
		}
		if diffs != nil {
			t.Fatalf("seed %d image %d: the recovered store matches none of the states after operations %d..%d: %s",
				seed, image, before, after, strings.Join(diffs, "; "))
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDiskErrorsFailSaveLoudly injects write and sync errors into the WAL
// and checks that Save reports them, that the store stays failed, and that
// what was acknowledged before is there after a reopen.
func TestDiskErrorsFailSaveLoudly(t *testing.T) {
	cases := []struct {
		name string
		kind errorfs.OpKind
		err  error
	}{
		{"WAL write fails with ENOSPC", errorfs.OpFileWrite, syscall.ENOSPC},
		{"WAL sync fails with EIO", errorfs.OpFileSync, syscall.EIO},
		{"WAL data sync fails with EIO", errorfs.OpFileSyncData, syscall.EIO},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := vfs.NewMem()
			var failing atomic.Bool
			fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if failing.Load() && strings.HasSuffix(op.Path, ".log") &&
					(op.Kind == c.kind || (c.kind == errorfs.OpFileSync && op.Kind == errorfs.OpFileSyncData)) {
					return c.err
				}
				return nil
			}))
			store := openTestStore(t, storepebble.Config{Dir: "/data", FS: fs})
			rng := rand.New(rand.NewPCG(1, 2))
			var state storetest.LogState
			for range 20 {
				op := storetest.NextOp(rng, state)
				if err := op.Apply(store); err != nil {
					t.Fatalf("%s: %v", op.Name, err)
				}
				state = op.Next
			}

			failing.Store(true)
			op := storetest.NextOp(rng, state)
			err := op.Apply(store)
			if err == nil {
				t.Fatalf("%s succeeded while the disk fails", op.Name)
			}
			if !errors.Is(err, storepebble.ErrStoreFailed) {
				t.Fatalf("%s: error %v, want ErrStoreFailed", op.Name, err)
			}
			if err := storetest.NextOp(rng, op.Next).Apply(store); !errors.Is(err, storepebble.ErrStoreFailed) {
				t.Fatalf("Save after the failure: error %v, want ErrStoreFailed", err)
			}
			if _, err := store.LastIndex(); !errors.Is(err, storepebble.ErrStoreFailed) {
				t.Fatalf("LastIndex after the failure: error %v, want ErrStoreFailed", err)
			}
			if err := store.Close(); err != nil {
				t.Fatalf("Close of a failed store: %v", err)
			}

			failing.Store(false)
			recovered := openTestStore(t, storepebble.Config{Dir: "/data", FS: mem})
			defer recovered.Close()
			if diff := storetest.DiffState(recovered, state); diff != "" {
				if storetest.DiffState(recovered, op.Next) != "" {
					t.Fatalf("after reopening: %s", diff)
				}
			}
		})
	}
}
