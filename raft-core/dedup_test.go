package raftcore

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppliedProposalsSkipsSecondCopies(t *testing.T) {
	a := newAppliedProposals()
	if !a.firstTime(1, 10) || a.firstTime(1, 10) {
		t.Fatal("second copy of (1, 10) not detected")
	}
	if !a.firstTime(2, 10) {
		t.Fatal("the same id from another node is a different proposal")
	}
	for id := uint64(100); id < 100+dedupWindow; id++ {
		a.firstTime(1, id)
	}
	if !a.firstTime(1, 10) {
		t.Fatal("an id older than the window is still remembered: the window is unbounded")
	}
}

func TestAppliedProposalsSurviveSnapshots(t *testing.T) {
	a := newAppliedProposals()
	for id := uint64(1); id <= dedupWindow+5; id++ {
		a.firstTime(7, id)
	}
	a.firstTime(3, 42)
	var buf bytes.Buffer
	if err := a.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := readAppliedProposals(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b.firstTime(3, 42) || b.firstTime(7, dedupWindow+5) || b.firstTime(7, 6) {
		t.Fatal("restored window forgot an id it held")
	}
	if !b.firstTime(7, 5) {
		t.Fatal("restored window holds an id that had left it")
	}
}

func FuzzReadAppliedProposals(f *testing.F) {
	a := newAppliedProposals()
	a.firstTime(1, 2)
	var buf bytes.Buffer
	_ = a.writeTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readAppliedProposals(bytes.NewReader(data))
	})
}

// TestIDSetAgreesWithAMap checks the open-addressing set against a map under
// random adds and removes, with ids drawn from narrow ranges (so that probe
// chains collide and wrap around the table's end), including 0 and the largest id.
func TestIDSetAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	for _, span := range []int{12, 40, 3000} {
		checkIDSet(t, rng, span)
	}
}

func checkIDSet(t *testing.T, rng *rand.Rand, span int) {
	var s idSet
	model := map[uint64]bool{}
	// Consecutive ids spread evenly under Fibonacci hashing; random ones
	// collide, which is what exercises probing and backward shifts.
	pool := make([]uint64, span)
	for i := range pool {
		pool[i] = rng.Uint64()
	}
	pick := func() uint64 {
		switch rng.IntN(10) {
		case 0:
			return 0
		case 1:
			return ^uint64(0) - uint64(rng.IntN(3))
		default:
			return pool[rng.IntN(span)]
		}
	}
	for step := range 200000 {
		id := pick()
		if rng.IntN(2) == 0 && !model[id] {
			s.add(id)
			model[id] = true
		} else if rng.IntN(2) == 0 {
			s.remove(id)
			delete(model, id)
		}
		probe := pick()
		if s.has(probe) != model[probe] {
			t.Fatalf("span %d step %d: has(%d) = %v, want %v", span, step, probe, s.has(probe), model[probe])
		}
	}
	for id := range model {
		if !s.has(id) {
			t.Fatalf("lost %d", id)
		}
	}
	if len(model) > 0 && 2*s.n > len(s.slots) {
		t.Fatalf("set is %d/%d full", s.n, len(s.slots))
	}
}

func BenchmarkAppliedProposals(b *testing.B) {
	a := newAppliedProposals()
	id := uint64(1 << 40)
	for b.Loop() {
		id++
		a.firstTime(1, id)
	}
}

// testSeed returns a fresh seed for a randomized test and logs it if the test
// fails, so the failing run can be repeated.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	})
	return seed
}
