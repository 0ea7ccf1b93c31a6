package sim

import (
	"testing"
	"time"
)

// TestMembershipFaultsNeverCostQuorum replays soak seeds whose wipe
// destroyed a voter that the survivors still counted in their quorum (the
// promotion of its predecessor's replacement had applied on the leader
// only), so no write could commit after the faults healed: a false
// liveness alarm. The nemesis now takes a voter away only from a settled
// membership that keeps a quorum without it.
func TestMembershipFaultsNeverCostQuorum(t *testing.T) {
	for _, seed := range []uint64{20020, 23261, 24004} {
		cfg := Config{Seed: seed, Nemeses: AllNemeses, Duration: 10 * time.Second}
		if res := runSeed(t, cfg); res.Failed() {
			reportFailure(t, cfg, res)
		}
	}
}
