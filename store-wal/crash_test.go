package storewal

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// TestPowerLossRecoversAnAcknowledgedPrefix takes images of a crashFS, as
// a power loss would leave the disk, at random moments while a writer runs
// the shared workload on 1 MiB segments, padded so that segments fill,
// seal, roll over, get recycled as spares and reused many times. Each image
// must open to the state after one of the operations that could have
// completed: every acknowledged one, and perhaps the one in flight. Some
// recovered stores take more operations and lose power again, so that what
// recovery leaves behind (a torn tail, a segment without records, spares)
// is written over and recovered too.
func TestPowerLossRecoversAnAcknowledgedPrefix(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := newCrashFS()
	cfg := Config{Dir: "/var/raft", SegmentSize: minSegmentSize}
	store, err := open(cfg, fs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}

	const images = 100
	var (
		mu     sync.Mutex
		states = []storetest.LogState{{}} // states[i]: after i operations
		acked  atomic.Int64               // operations acknowledged
		tokens = make(chan int)           // how many operations the writer may run next
		failed = make(chan error, 1)
		rolled atomic.Uint64 // segments the writer started
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
					failed <- fmt.Errorf("%s: %w", op.Name, err)
					return
				}
				acked.Add(1)
				if err := padStore(writerRNG, store); err != nil {
					failed <- fmt.Errorf("padding: %w", err)
					return
				}
				rolled.Store(store.w.curSeq)
			}
		}
	})
	stop := func() {
		close(tokens)
		wg.Wait()
	}
	for image := range images {
		select {
		case tokens <- 1 + rng.IntN(6):
		case err := <-failed:
			stop()
			t.Fatalf("seed %d: %v", seed, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("seed %d: the writer took no operation for 30s", seed)
		}
		before := acked.Load()
		clone := fs.crashImage(rng, rng.IntN(101))
		after := acked.Load() + 1 // the operation in flight may have reached the disk
		mu.Lock()
		candidates := states[before:min(int(after)+1, len(states))]
		mu.Unlock()
		k, err := recoversOneOf(clone, cfg, candidates)
		if err != nil {
			stop()
			t.Fatalf("seed %d image %d, taken while operations %d..%d ran: %v", seed, image, before+1, after, err)
		}
		if rng.IntN(4) == 0 {
			if err := writeAndLosePowerAgain(rng, clone, cfg, candidates[k]); err != nil {
				stop()
				t.Fatalf("seed %d image %d, recovered to the state after operation %d: %v", seed, image, before+int64(k), err)
			}
		}
	}
	stop()
	select {
	case err := <-failed:
		t.Fatalf("seed %d: %v", seed, err)
	default:
	}
	// With the writer stopped, every operation was acknowledged.
	if _, err := recoversOneOf(fs.crashImage(rng, rng.IntN(101)), cfg, states[len(states)-1:]); err != nil {
		t.Fatalf("seed %d, image after the last of %d operations: %v", seed, len(states)-1, err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rolled.Load(); n < 6 {
		t.Fatalf("seed %d: the writer used %d segments; it should roll over many times", seed, n)
	}
}

// padStore appends, two times in five, a record that changes nothing,
// mostly of up to 128 KiB, now and then larger than a segment.
func padStore(rng *rand.Rand, s *LogStore) error {
	deletions := 0
	switch k := rng.IntN(100); {
	case k == 0:
		deletions = (minSegmentSize + minSegmentSize/4) / 12
	case k < 40:
		deletions = rng.IntN(128 << 10 / 12)
	default:
		return nil
	}
	s.log.WriteMu.Lock()
	defer s.log.WriteMu.Unlock()
	return s.w.pad(deletions)
}

// recoversOneOf opens the store in fs and returns which of candidates it
// holds; an error describes how it differs from each.
func recoversOneOf(fs fileSystem, cfg Config, candidates []storetest.LogState) (int, error) {
	recovered, err := open(cfg, fs)
	if err != nil {
		return 0, fmt.Errorf("Open: %w", err)
	}
	var diffs []string
	match := -1
	for i, want := range candidates {
		diff := storetest.DiffState(recovered, want)
		if diff == "" {
			match = i
			break
		}
		diffs = append(diffs, diff)
	}
	err = recovered.Close()
	if match < 0 {
		return 0, fmt.Errorf("the recovered store matches none of the states that could have been acknowledged: %s",
			strings.Join(diffs, "; "))
	}
	return match, err
}

// writeAndLosePowerAgain opens the recovered store in fs, which holds
// state, runs a few more operations, loses power with all of them
// acknowledged, and checks the image opens to the last state.
func writeAndLosePowerAgain(rng *rand.Rand, fs *crashFS, cfg Config, state storetest.LogState) error {
	s, err := open(cfg, fs)
	if err != nil {
		return fmt.Errorf("Open: %w", err)
	}
	for range 1 + rng.IntN(20) {
		op := storetest.NextOp(rng, state)
		if err := op.Apply(s); err != nil {
			s.Close()
			return fmt.Errorf("%s after recovery: %w", op.Name, err)
		}
		state = op.Next
		if err := padStore(rng, s); err != nil {
			s.Close()
			return fmt.Errorf("padding after recovery: %w", err)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	_, err = recoversOneOf(fs.crashImage(rng, rng.IntN(101)), cfg, []storetest.LogState{state})
	if err != nil {
		return fmt.Errorf("after more operations and another power loss: %w", err)
	}
	return nil
}
