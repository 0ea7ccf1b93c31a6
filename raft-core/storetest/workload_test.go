package storetest

import (
	"math/rand/v2"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

func TestWorkloadPredictsTheMemoryStore(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	store := raftcore.NewMemoryLogStore()
	defer store.Close()
	var state LogState
	kinds := map[string]int{}
	for i := range 2000 {
		op := NextOp(rng, state)
		if err := op.Apply(store); err != nil {
			t.Fatalf("seed %d, operation %d, %s: %v", seed, i, op.Name, err)
		}
		state = op.Next
		if diff := DiffState(store, state); diff != "" {
			t.Fatalf("seed %d, after operation %d, %s: %s", seed, i, op.Name, diff)
		}
		kinds[op.Name[:4]]++
	}
	for _, kind := range []string{"appe", "set ", "comp", "save"} {
		if kinds[kind] == 0 {
			t.Errorf("seed %d: the workload drew no operation starting with %q in 2000", seed, kind)
		}
	}
}

// TestWorkloadStartsFromShortLogs draws the first operations of many seeds:
// a short log (one or two entries) is where an overwrite reaching below the
// first index would underflow.
func TestWorkloadStartsFromShortLogs(t *testing.T) {
	base := testseed.Get(t)
	for i := range uint64(3000) {
		rng := rand.New(rand.NewPCG(base+i, 4))
		var state LogState
		for j := range 6 {
			op := func() (op WorkloadOp) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("seed %d (stream %d), operation %d from %+v: panic %v", base, i, j, state, p)
					}
				}()
				return NextOp(rng, state)
			}()
			state = op.Next
		}
	}
}

func TestDiffStateReportsEachDifference(t *testing.T) {
	store := raftcore.NewMemoryLogStore()
	defer store.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	var state LogState
	for state.SnapIndex == 0 || state.DummyIndex == 0 || len(state.Terms) < 3 {
		op := NextOp(rng, state)
		if err := op.Apply(store); err != nil {
			t.Fatalf("%s: %v", op.Name, err)
		}
		state = op.Next
	}
	changes := map[string]func(s *LogState){
		"hard state":    func(s *LogState) { s.HardState[1]++ },
		"snapshot":      func(s *LogState) { s.SnapIndex++ },
		"first index":   func(s *LogState) { s.DummyIndex--; s.Terms = append([]uint64{s.DummyTerm}, s.Terms...) },
		"last index":    func(s *LogState) { s.Terms = s.Terms[:len(s.Terms)-1] },
		"dummy term":    func(s *LogState) { s.DummyTerm++ },
		"an entry term": func(s *LogState) { s.Terms[1]++ },
	}
	for name, change := range changes {
		want := state
		want.Terms = append([]uint64(nil), state.Terms...)
		change(&want)
		if DiffState(store, want) == "" {
			t.Errorf("DiffState found no difference in the %s", name)
		}
	}
}

func TestOtherVersionRaisesTheMarkerVersion(t *testing.T) {
	cases := map[string]string{
		"jangada storepebble v1\n": "jangada storepebble v2\n",
		"jangada storebadger v9\n": "jangada storebadger v10\n",
		"no version\n":             "no version v1-other\n",
	}
	for marker, want := range cases {
		if got := otherVersion(marker); got != want {
			t.Errorf("otherVersion(%q) = %q, want %q", marker, got, want)
		}
	}
}
