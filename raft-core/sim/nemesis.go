package sim

import (
	"slices"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
)

// nemesis injects the configured faults on a random schedule until the run's
// Duration, then heals them all.
type nemesis struct {
	s     *simulation
	kinds []Nemesis
	// generation counters: a fault heals itself only if no later fault of
	// the same kind replaced it.
	partitionGen, lossGen, delayGen, dupGen, reorderGen, longDelayGen int
	// memberBusy is set while a membership task (replace or wipe) runs.
	memberBusy bool
	// backlogArmed: the next membership change gets an apply backlog on a
	// follower (NemesisApplyBacklog).
	backlogArmed bool
	// confIndex is the index of the latest membership change known to have
	// applied (the bootstrap's, then each change the nemesis made).
	confIndex uint64
	// readErrors is NemesisReadError, when the run has it; it keeps a
	// schedule of its own.
	readErrors *readErrors
}

func newNemesis(s *simulation) *nemesis {
	// The bootstrap writes one conf change per initial member, at indexes
	// 1 to Nodes.
	ns := &nemesis{s: s, confIndex: uint64(s.cfg.Nodes)}
	ns.kinds = slices.DeleteFunc(slices.Clone(s.cfg.Nemeses), func(k Nemesis) bool { return k == NemesisReadError })
	if s.cfg.has(NemesisReadError) {
		ns.readErrors = newReadErrors(s)
	}
	return ns
}

func (ns *nemesis) start() {
	if ns.readErrors != nil {
		ns.readErrors.start()
	}
	if len(ns.kinds) == 0 {
		return
	}
	var loop func()
	loop = func() {
		s := ns.s
		if s.healed {
			return
		}
		ns.inject(pick(s.sched, ns.kinds))
		s.sched.after(s.sched.between(100*time.Millisecond, 600*time.Millisecond), loop)
	}
	ns.s.sched.after(ns.s.sched.between(200*time.Millisecond, 500*time.Millisecond), loop)
}

func (ns *nemesis) fault(kind Nemesis, format string, args ...any) {
	s := ns.s
	s.faults++
	s.faultsByKind[kind]++
	s.trace.record("fault:" + string(kind))
	s.trace.logf("FAULT "+string(kind)+": "+format, args...)
}

// lasting runs heal after a random while, unless the run healed everything.
func (ns *nemesis) lasting(lo, hi time.Duration, heal func()) {
	ns.s.sched.after(ns.s.sched.between(lo, hi), func() {
		if !ns.s.healed {
			heal()
		}
	})
}

func (ns *nemesis) inject(kind Nemesis) {
	s := ns.s
	net := s.net
	switch kind {
	case NemesisPartition:
		ns.partition()
	case NemesisLoss:
		ns.lossGen++
		gen := ns.lossGen
		net.loss = 0.05 + 0.4*s.sched.rng.Float64()
		ns.fault(kind, "drop %.0f%% of messages", net.loss*100)
		ns.lasting(100*time.Millisecond, 1500*time.Millisecond, func() {
			if gen == ns.lossGen {
				net.loss = 0
				s.trace.logf("heal loss")
			}
		})
	case NemesisDelay:
		ns.delayGen++
		gen := ns.delayGen
		net.extraDelay = s.sched.between(5*time.Millisecond, 150*time.Millisecond)
		ns.fault(kind, "up to %v extra latency", net.extraDelay)
		ns.lasting(100*time.Millisecond, 1500*time.Millisecond, func() {
			if gen == ns.delayGen {
				net.extraDelay = 0
				s.trace.logf("heal delay")
			}
		})
	case NemesisDuplicate:
		ns.dupGen++
		gen := ns.dupGen
		net.duplicate = 0.05 + 0.3*s.sched.rng.Float64()
		ns.fault(kind, "duplicate %.0f%% of messages", net.duplicate*100)
		ns.lasting(100*time.Millisecond, 1500*time.Millisecond, func() {
			if gen == ns.dupGen {
				net.duplicate = 0
				s.trace.logf("heal duplicate")
			}
		})
	case NemesisReorder:
		ns.reorderGen++
		gen := ns.reorderGen
		net.jitter = s.sched.between(2*time.Millisecond, 40*time.Millisecond)
		ns.fault(kind, "jitter up to %v", net.jitter)
		ns.lasting(100*time.Millisecond, 1500*time.Millisecond, func() {
			if gen == ns.reorderGen {
				net.jitter = 0
				s.trace.logf("heal reorder")
			}
		})
	case NemesisCrash:
		ns.crash()
	case NemesisSlowDisk:
		nodes := s.runningNodes()
		if len(nodes) == 0 {
			return
		}
		n := pick(s.sched, nodes)
		n.slowDisk = true
		ns.fault(kind, "node %d", n.id)
		ns.lasting(200*time.Millisecond, 2*time.Second, func() { n.slowDisk = false })
	case NemesisTransfer:
		leader := s.leader()
		if leader == nil {
			return
		}
		voters, _ := leader.stepper.Members()
		voters = slices.DeleteFunc(voters, func(id uint64) bool { return id == leader.id })
		if len(voters) == 0 {
			return
		}
		to := pick(s.sched, voters)
		ns.fault(kind, "leader %d to %d", leader.id, to)
		s.active = leader
		leader.stepper.TransferLeadership(to)
		leader.pump()
		ns.transferAndIsolate(leader.id)
	case NemesisSnapshot:
		nodes := s.runningNodes()
		if len(nodes) == 0 {
			return
		}
		n := pick(s.sched, nodes)
		ns.fault(kind, "node %d", n.id)
		n.snapshot()
	case NemesisMembership:
		if !ns.memberBusy {
			ns.replaceVoter()
		}
	case NemesisWipe:
		if !ns.memberBusy {
			ns.wipe()
		}
	case NemesisRestart:
		ns.restart()
	case NemesisApplyBacklog:
		ns.applyBacklog()
	case NemesisPause:
		ns.pause()
	case NemesisStaleSnapshot:
		ns.staleSnapshot()
	case NemesisHostile:
		ns.hostile()
	case NemesisLongDelay:
		ns.longDelay()
	}
}

// partition cuts the network among the running members in one of five shapes.
func (ns *nemesis) partition() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) < 2 {
		return
	}
	ids := make([]uint64, len(nodes))
	for i, n := range nodes {
		ids[i] = n.id
	}
	s.sched.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ns.partitionGen++
	gen := ns.partitionGen
	net := s.net
	clear(net.blocked)
	cut := func(a, b []uint64) {
		for _, x := range a {
			for _, y := range b {
				net.blocked[link{x, y}] = true
				net.blocked[link{y, x}] = true
			}
		}
	}
	switch shape := s.sched.rng.IntN(5); shape {
	case 0: // a random minority, isolated together
		k := 1 + s.sched.rng.IntN(max(1, (len(ids)-1)/2))
		cut(ids[:k], ids[k:])
		ns.fault(NemesisPartition, "minority %v | %v", ids[:k], ids[k:])
	case 1: // majorities ring: each node sees a majority, no two the same one
		reach := len(ids) / 2
		for i := range ids {
			for j := range ids {
				d := (j - i + len(ids)) % len(ids)
				if d != 0 && min(d, len(ids)-d) > reach/2+reach%2 {
					net.blocked[link{ids[i], ids[j]}] = true
				}
			}
		}
		if len(ids) == 3 { // no ring for three: cut one link instead
			cut(ids[:1], ids[1:2])
		}
		ns.fault(NemesisPartition, "majorities ring %v", ids)
	case 2: // the leader alone
		leader := s.leader()
		if leader == nil {
			cut(ids[:1], ids[1:])
			ns.fault(NemesisPartition, "isolate %d", ids[0])
			break
		}
		others := slices.DeleteFunc(slices.Clone(ids), func(id uint64) bool { return id == leader.id })
		cut([]uint64{leader.id}, others)
		ns.fault(NemesisPartition, "isolate leader %d", leader.id)
	case 3: // one way: one node's messages to the others are lost
		for _, y := range ids[1:] {
			net.blocked[link{ids[0], y}] = true
		}
		ns.fault(NemesisPartition, "one-way: %d cannot reach %v", ids[0], ids[1:])
	case 4: // two halves joined by one bridge node
		bridge, rest := ids[0], ids[1:]
		half := len(rest) / 2
		cut(rest[:max(half, 1)], rest[max(half, 1):])
		ns.fault(NemesisPartition, "bridge %d between %v and %v", bridge, rest[:max(half, 1)], rest[max(half, 1):])
	}
	ns.lasting(100*time.Millisecond, 2*time.Second, func() {
		if gen == ns.partitionGen {
			clear(net.blocked)
			s.trace.record("heal-partition")
			s.trace.logf("heal partition")
		}
	})
}

// crash crashes one node, a minority, or every node at once (power loss),
// and restarts each after a while.
func (ns *nemesis) crash() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	s.sched.rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	k := 1
	switch r := s.sched.rng.IntN(10); {
	case r >= 9:
		k = len(nodes)
	case r >= 7:
		k = max(1, (len(nodes)-1)/2)
	}
	for _, n := range nodes[:k] {
		ns.fault(NemesisCrash, "node %d", n.id)
		n.crash("nemesis")
		inc := n.incarnation
		s.sched.after(s.sched.between(10*time.Millisecond, 1500*time.Millisecond), func() {
			if n.incarnation == inc && !n.up && !n.retired {
				n.start()
			}
		})
	}
}

// --- membership ---------------------------------------------------------------

// confChange proposes a membership change on the current leader until it is
// applied, retrying after refusals, lost leaders and timeouts, then runs then.
// Every change the simulator makes is idempotent, so a retry of a change that
// did apply is harmless.
func (ns *nemesis) confChange(typ raftpb.ConfChangeType, id uint64, then func(index uint64)) {
	s := ns.s
	attempt := 0
	var try func()
	retry := func(mine int) {
		if mine == attempt {
			s.sched.after(s.sched.between(20*time.Millisecond, 100*time.Millisecond), try)
		}
	}
	try = func() {
		attempt++
		mine := attempt
		leader := s.leader()
		if leader == nil {
			retry(mine)
			return
		}
		s.trace.record("confchange", uint64(typ), id, leader.id)
		s.trace.logf("propose %v %d on leader %d", typ, id, leader.id)
		s.active = leader
		leader.stepper.ProposeConfChange(typ, raftcore.Peer{ID: id}, func(index uint64, err error) {
			if mine != attempt {
				return
			}
			if err != nil {
				s.trace.logf("%v %d: %v", typ, id, err)
				retry(mine)
				return
			}
			attempt++ // no timeout retry after success
			ns.confIndex = max(ns.confIndex, index)
			s.trace.record("confchanged", uint64(typ), id)
			s.trace.logf("%v %d applied at %d", typ, id, index)
			then(index)
		})
		leader.pump()
		s.sched.after(2*time.Second, func() { retry(mine) })
	}
	try()
}

// addMember starts a new, empty node, adds it as a learner, lets it catch up
// and promotes it.
func (ns *nemesis) addMember(then func()) {
	s := ns.s
	n := s.addNode(true)
	n.start()
	var cutBacklog func()
	if leader := s.leader(); leader != nil {
		cutBacklog = ns.backlogDuringChange(leader.id)
	}
	ns.confChange(raftpb.ConfChangeAddLearnerNode, n.id, func(uint64) {
		if cutBacklog != nil {
			cutBacklog()
			cutBacklog = nil
		}
		waited := time.Duration(0)
		var wait func()
		wait = func() {
			leader := s.leader()
			if waited < 2*time.Second && (leader == nil || !n.up || n.stepper.AppliedIndex()+5 < leader.stepper.AppliedIndex()) {
				waited += 50 * time.Millisecond
				s.sched.after(50*time.Millisecond, wait)
				return
			}
			ns.confChange(raftpb.ConfChangeAddNode, n.id, func(uint64) { then() })
		}
		wait()
	})
}

// victim picks a voter to remove: the leader a third of the time.
func (ns *nemesis) victim(exclude uint64) uint64 {
	s := ns.s
	leader := s.leader()
	if leader == nil {
		return 0
	}
	voters, _ := leader.stepper.Members()
	voters = slices.DeleteFunc(voters, func(id uint64) bool { return id == exclude })
	if len(voters) == 0 {
		return 0
	}
	if slices.Contains(voters, leader.id) && s.sched.chance(1.0/3) {
		return leader.id
	}
	return pick(s.sched, voters)
}

// replaceVoter adds a new member, then removes an old voter (perhaps the
// leader) and stops it for good.
func (ns *nemesis) replaceVoter() {
	s := ns.s
	if leader := s.leader(); leader == nil || !ns.settled(leader) {
		return
	}
	ns.memberBusy = true
	ns.fault(NemesisMembership, "replace a voter")
	ns.addMember(func() {
		var remove func()
		remove = func() {
			old := ns.victim(s.nextID - 1)
			if old == 0 {
				s.sched.after(50*time.Millisecond, remove)
				return
			}
			s.trace.logf("removing voter %d", old)
			ns.confChange(raftpb.ConfChangeRemoveNode, old, func(index uint64) {
				ns.retireWhenKnown(old, index, func() { ns.memberBusy = false })
			})
		}
		remove()
	})
}

// wipe stops a voter, removes it, and brings its machine back with empty
// storage as a new member with a new id.
func (ns *nemesis) wipe() {
	s := ns.s
	leader := s.leader()
	if leader == nil {
		return
	}
	if !ns.settled(leader) {
		return
	}
	old := ns.victim(0)
	if old == 0 || !ns.survives(leader, old) {
		return
	}
	ns.memberBusy = true
	ns.fault(NemesisWipe, "wipe node %d", old)
	s.retire(old)
	ns.confChange(raftpb.ConfChangeRemoveNode, old, func(uint64) {
		ns.addMember(func() { ns.memberBusy = false })
	})
}

// retireWhenKnown stops a removed member once the other running nodes have
// applied its removal at index, or after a second. Stopping a removed
// leader at once can leave a two-voter cluster unable to elect anyone: the
// remaining voter may never learn that the removal committed, and still
// counts the stopped node in its quorum. Operators wait the same way.
func (ns *nemesis) retireWhenKnown(id, index uint64, then func()) {
	s := ns.s
	deadline := s.sched.now + time.Second
	var wait func()
	wait = func() {
		for _, n := range s.runningNodes() {
			if n.id != id && n.stepper.AppliedIndex() < index && s.sched.now < deadline {
				s.sched.after(10*time.Millisecond, wait)
				return
			}
		}
		s.retire(id)
		then()
	}
	wait()
}

// settled reports whether every member agrees on the membership the leader
// has applied, in memory and on disk. Only then may a membership task take a
// node away for good.
//
// etcd raft moves a node to a new configuration when the node applies the
// change, and a node learns that a change committed only from the leader.
// Until then, and again after a crash that loses a commit index its disk had
// not saved yet, it campaigns and counts votes in the older configuration.
// The wipes that killed seeds 20020, 23261 and 24004 of the soak struck right
// after a promotion had applied on the leader alone: the survivors still
// counted the wiped voter in their quorum (one of them as a learner that
// cannot campaign), so no election could ever succeed.
func (ns *nemesis) settled(leader *simNode) bool {
	s := ns.s
	if leader.stepper.AppliedIndex() < ns.confIndex {
		return false
	}
	voters, learners := leader.stepper.Members()
	for _, id := range s.ids {
		n := s.nodes[id]
		if n.retired {
			continue
		}
		if n.up {
			v, l := n.stepper.Members()
			if n.stepper.AppliedIndex() < ns.confIndex || !slices.Equal(v, voters) || !slices.Equal(l, learners) {
				return false
			}
		}
		// What the node restarts with after a crash.
		if durableCommit(n.disk) < ns.confIndex {
			return false
		}
	}
	return true
}

// survives reports whether the cluster keeps a quorum of voters that are up
// once voter victim is gone for good: at least three voters (a two-voter
// cluster cannot remove a dead member, as the removal itself needs it), and
// a majority of them running apart from the victim. Nodes down after a
// crash come back, so they only delay progress, never end it; they are not
// counted, so that the removal can commit at once.
func (ns *nemesis) survives(leader *simNode, victim uint64) bool {
	voters, _ := leader.stepper.Members()
	if len(voters) < 3 {
		return false
	}
	up := 0
	for _, id := range voters {
		if n := ns.s.nodes[id]; id != victim && n != nil && n.up && !n.retired {
			up++
		}
	}
	return up >= len(voters)/2+1
}

// durableCommit is the commit index a node restarted from d would find: the
// saved commit, or its snapshot's index if higher (see the engine's
// raftStorage.InitialState).
func durableCommit(d *diskStore) uint64 {
	hs, _, err := d.durable.InitialState()
	if err != nil {
		return 0
	}
	snap, err := d.durable.Snapshot()
	if err != nil {
		return 0
	}
	return max(hs.GetCommit(), snap.GetMetadata().GetIndex())
}
