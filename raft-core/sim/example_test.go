package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/jangada-io/jangada/raft-core/sim"
)

// Run one seed with every nemesis and check its outcome.
func ExampleRun() {
	cfg := sim.Config{Seed: 42, Duration: 2 * time.Second, Nemeses: sim.AllNemeses, OutDir: "-"}
	res, err := sim.Run(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := sim.Run(context.Background(), cfg)
	fmt.Println("failed:", res.Failed())
	fmt.Println("linearizable:", res.Linearizable)
	fmt.Println("same trace again:", res.Trace == again.Trace)
	// Output:
	// failed: false
	// linearizable: true
	// same trace again: true
}

// A known bug injected into the engine is caught.
func ExampleRun_injectedBug() {
	for seed := uint64(1); seed <= 200; seed++ {
		res, err := sim.Run(context.Background(), sim.Config{
			Seed: seed, Duration: 2 * time.Second, Nemeses: []sim.Nemesis{sim.NemesisPartition},
			Bugs: []sim.Bug{sim.BugStaleRead}, OutDir: "-",
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		if res.Failed() {
			fmt.Println("caught; linearizable:", res.Linearizable)
			return
		}
	}
	// Output:
	// caught; linearizable: false
}

func ExampleParseSeeds() {
	first, last, err := sim.ParseSeeds("1-500")
	fmt.Println(first, last, err)
	// Output: 1 500 <nil>
}
