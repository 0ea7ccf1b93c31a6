package sim

import (
	"testing"
	"time"
)

// BenchmarkRun measures one seed: three nodes, five virtual seconds, every
// nemesis, the linearizability check included.
func BenchmarkRun(b *testing.B) {
	seed := uint64(0)
	ops, faults := 0, 0
	for b.Loop() {
		seed++
		res, err := Run(b.Context(), Config{Seed: seed, Nemeses: AllNemeses, OutDir: "-"})
		if err != nil {
			b.Fatal(err)
		}
		ops += res.Ops
		faults += res.Faults
	}
	b.ReportMetric(float64(ops)/float64(seed), "ops/seed")
	b.ReportMetric(float64(faults)/float64(seed), "faults/seed")
	b.ReportMetric(float64(seed)/b.Elapsed().Minutes(), "seeds/min")
}

// BenchmarkRunVirtualSecond measures the cost of one virtual second of a
// quiet three-node cluster under load, without faults.
func BenchmarkRunVirtualSecond(b *testing.B) {
	seed := uint64(0)
	for b.Loop() {
		seed++
		if _, err := Run(b.Context(), Config{Seed: seed, Duration: time.Second, OutDir: "-"}); err != nil {
			b.Fatal(err)
		}
	}
}
