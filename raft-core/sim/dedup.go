package sim

import (
	"time"

	"github.com/jangada-io/jangada/raft-core/internal/knobs"
)

// simDedupWindow is the engine's dedup window (proposal sequence numbers
// remembered per proposing node) in the simulator: small enough that a copy
// of a proposal held back by NemesisLongDelay arrives after many more
// applies from its node than the window holds. The default (8,192) would
// need minutes of virtual time at the simulated workload's rate.
const simDedupWindow = 16

// Late copies arrive this long after they were sent: at the workload's rate
// of roughly 20 writes a second per node, 20 to 80 applies later.
const (
	longDelayMin = time.Second
	longDelayMax = 4 * time.Second
)

// clockBackChance is how often a restarted node's proposal epoch is lower
// than its previous incarnations', as after the wall clock went back.
const clockBackChance = 0.2

// proposalEpoch returns the epoch of n's proposals in a new incarnation: the
// incarnation number above 20 bits holding it again (the salt that keeps
// incarnations apart, see raftcore.NewStepper), or now and then the salt
// alone, below every earlier epoch: the engine must then raise it once it
// sees its earlier incarnations' entries, not refuse its proposals forever.
func (n *simNode) proposalEpoch() uint64 {
	if n.incarnation > 1 && n.s.sched.chance(clockBackChance) {
		n.s.trace.logf("node %d: proposal epoch from a clock that went back", n.id)
		return n.incarnation
	}
	return n.incarnation<<20 | n.incarnation
}

// useEngineKnobs sets the engine's knobs for a simulation and returns the
// function that restores them. Runs hold randMu (see withSeededRand), so no
// two runs in a process set them at once.
func useEngineKnobs() (restore func()) {
	saved := knobs.DedupWindow.Swap(simDedupWindow)
	return func() { knobs.DedupWindow.Store(saved) }
}

// longDelay holds back a share of the messages carrying entries for a while.
func (ns *nemesis) longDelay() {
	s := ns.s
	net := s.net
	ns.longDelayGen++
	gen := ns.longDelayGen
	net.longDelay = 0.05 + 0.25*s.sched.rng.Float64()
	ns.fault(NemesisLongDelay, "%.0f%% of messages with entries also arrive %v-%v late", net.longDelay*100, longDelayMin, longDelayMax)
	ns.lasting(100*time.Millisecond, 1500*time.Millisecond, func() {
		if gen == ns.longDelayGen {
			net.longDelay = 0
			s.trace.logf("heal long-delay")
		}
	})
}
