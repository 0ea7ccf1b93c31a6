package sim

import (
	"math/rand/v2"
	"time"
)

// readErrors is NemesisReadError: now and then a running node's disk fails
// reads of the log for a while (diskStore.failReads). Raft panics on a
// failed read; the node's Stepper must stop with the disk's error instead
// (raftcore.Stepper.Err), and the node then goes down as in a crash and
// starts again later from its disk (simNode.stopped). A start while the
// reads still fail must fail cleanly too, and is tried again later.
//
// A running node reads entries from its disk only past the engine's cache
// of recent ones, which hardly ever happens here; so a node whose disk
// fails entry reads only is restarted at once, with an empty cache, and
// reads from the disk the entries it has to apply.
//
// It draws from a random stream of its own, seeded from the run's, and runs
// on a schedule of its own: the other nemeses draw and act as they did
// before it existed, so a seed found then replays the same history until a
// read first fails.
type readErrors struct {
	s   *simulation
	rng *rand.Rand
	// gen counts the faults per node: a fault heals only if no later one on
	// the node replaced it.
	gen map[uint64]int
}

// readErrorStream tells this stream from the scheduler's, seeded alike.
const readErrorStream = 0x6a09e667f3bcc908

func newReadErrors(s *simulation) *readErrors {
	seed := s.cfg.Seed
	return &readErrors{s: s, rng: rand.New(rand.NewPCG(seed, seed^readErrorStream)), gen: map[uint64]int{}}
}

func (r *readErrors) between(lo, hi time.Duration) time.Duration {
	return randomDuration(r.rng, lo, hi)
}

// start injects a fault within 2s, then every 1s to 4s until the run heals.
func (r *readErrors) start() {
	s := r.s
	var loop func()
	loop = func() {
		if s.healed {
			return
		}
		r.inject()
		s.sched.after(r.between(time.Second, 4*time.Second), loop)
	}
	s.sched.after(r.between(200*time.Millisecond, 2*time.Second), loop)
}

// inject makes a running node's disk fail entry reads (and restarts the
// node), entry and term reads, or every read of the log, for 20ms to a
// second.
func (r *readErrors) inject() {
	s := r.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	n := nodes[r.rng.IntN(len(nodes))]
	fault := failEntries + readFault(r.rng.IntN(int(failAllReads)))
	d := r.between(20*time.Millisecond, time.Second)
	r.gen[n.id]++
	gen := r.gen[n.id]
	n.disk.failReads = fault
	s.nemesis.fault(NemesisReadError, "node %d: %v fail for %v", n.id, fault, d)
	if fault == failEntries {
		n.crash("restart on a disk that fails entry reads")
		r.restartLater(n, time.Millisecond, 15*time.Millisecond)
	}
	s.sched.after(d, func() {
		if r.gen[n.id] == gen && !s.healed { // heal clears every fault
			n.disk.failReads = readsOK // n.disk is the one a restart made, if any
			s.trace.logf("heal read errors of node %d", n.id)
		}
	})
}

// restartLater starts n again after lo to hi, unless something else did.
func (r *readErrors) restartLater(n *simNode, lo, hi time.Duration) {
	inc := n.incarnation
	r.s.sched.after(r.between(lo, hi), func() {
		if n.incarnation == inc && !n.up && !n.retired {
			n.start()
		}
	})
}
