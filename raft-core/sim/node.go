package sim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
)

// simNode is one machine of the simulated cluster: an engine driven through
// a Stepper, its disk and its state machine. It plays the roles the runtime's
// goroutines play (raft loop, log writer, applier), each as timed events.
type simNode struct {
	s           *simulation
	id          uint64
	join        bool // started empty, waiting to be added
	up          bool
	retired     bool   // removed from the cluster (or wiped) and stopped for good
	incarnation uint64 // bumped on every start and crash; stale events check it
	stepper     *raftcore.Stepper[sessionCommand, sessionResult]
	kv          *kvMachine
	disk        *diskStore
	snaps       *raftcore.MemorySnapshotStore

	persistQ   []*raftpb.Message
	persisting bool
	applyQ     []applyJob
	applying   bool
	slowDisk   bool
	// pausedUntil: the process is frozen (NemesisPause) until then; its
	// ticks are lost and everything else waits.
	pausedUntil time.Duration
	// applyStalledUntil: the applier makes no progress until then
	// (NemesisApplyBacklog).
	applyStalledUntil time.Duration
	// stallUntilSnapshot ends the applier's stall when a snapshot arrives,
	// while the log writer (on a slow disk) is still installing it.
	stallUntilSnapshot bool
	// confDirty: a membership entry was applied since the last membership
	// check; checkedRaftSnap is raft's snapshot index at that check.
	confDirty       bool
	checkedRaftSnap uint64

	// Linearizable reads wait here while one ReadIndex is in flight, then go
	// as one batch (as the runtime batches them).
	readQ        []func(index uint64, err error)
	readInFlight []func(index uint64, err error)
	// readRounds counts the read index rounds of this incarnation.
	readRounds int
}

// applyJob is a MsgStorageApply or, when msg is nil, a snapshot request.
type applyJob struct{ msg *raftpb.Message }

const (
	tickInterval = 10 * time.Millisecond
	syncDelayMax = 20 * time.Millisecond
)

func newSimNode(s *simulation, id uint64, join bool) *simNode {
	return &simNode{s: s, id: id, join: join, disk: newDiskStore(s.cfg.bug(BugAckBeforeFsync)), snaps: raftcore.NewMemorySnapshotStore()}
}

func (n *simNode) alive(inc uint64) bool { return n.up && n.incarnation == inc }

func (n *simNode) config() raftcore.Config {
	cfg := raftcore.Config{
		NodeID:            n.id,
		Peers:             n.s.initialPeers,
		Join:              n.join,
		Preset:            raftcore.Testing,
		TickInterval:      tickInterval,
		Transport:         nopTransport{},
		LogStore:          n.disk,
		SnapshotStore:     n.snaps,
		HeartbeatInterval: 2 * tickInterval,
		ElectionTimeout:   20 * tickInterval,
		LeaseReads:        n.s.cfg.leaseReads(),
		Now:               n.s.clock,
	}
	if n.s.trace.verbose() {
		cfg.Logger = slog.New(logHandler{t: n.s.trace, node: n.id})
	}
	if n.s.cfg.has(NemesisSnapshot) {
		cfg.MaxLogEntries, cfg.TrailingLogEntries = 40, 10
	}
	return cfg
}

// start boots the node from whatever its disk holds.
func (n *simNode) start() {
	n.incarnation++
	n.confDirty, n.checkedRaftSnap, n.readRounds = true, 0, 0
	if h := n.s.net.holdTo[n.id]; h != nil && h.restarted == math.MaxInt64 {
		// Restarted by another nemesis first: release what was held.
		h.restarted = n.s.sched.now
		n.s.net.releaseHeld(n, true)
	}
	n.kv = newKVMachine()
	n.kv.applied = func(index uint64, cmd kvCommand, res kvResult) {
		if n.s.trace.verbose() {
			n.s.trace.logf("kv   %d applies %d: op %d %v %s=%s expect=%s -> %+v", n.id, index, cmd.ID, cmd.Op, cmd.Key, cmd.Value, cmd.Expect, res)
		}
		n.s.check.appliedCommand(n, index, cmd)
	}
	n.s.active = n
	st, err := raftcore.NewStepper(n.config(), newSessionMachine(n.kv), sessionCodec, n.proposalEpoch())
	if errors.Is(err, errDiskRead) {
		// Its disk fails reads (NemesisReadError): the node stays down and
		// tries again later, as a supervisor would restart it.
		n.s.readErrorStartFailures++
		n.s.trace.record("start-failed", n.id)
		n.s.trace.logf("node %d failed to start: %v", n.id, err)
		n.s.nemesis.readErrors.restartLater(n, 10*time.Millisecond, 500*time.Millisecond)
		return
	}
	if err != nil {
		n.s.violationf("node %d: restart failed: %v", n.id, err)
		n.retired = true
		return
	}
	for _, b := range n.s.cfg.Bugs {
		if slices.Contains(raftcore.EngineFaults, raftcore.EngineFault(b)) {
			if err := st.InjectFault(raftcore.EngineFault(b)); err != nil {
				n.s.violationf("node %d: %v", n.id, err)
			}
		}
	}
	n.stepper, n.up = st, true
	n.s.trace.record("start", n.id, n.incarnation)
	n.s.trace.logf("node %d started (incarnation %d, applied %d)", n.id, n.incarnation, st.AppliedIndex())
	inc := n.incarnation
	var tick func()
	tick = func() {
		if !n.alive(inc) {
			return
		}
		if !n.paused() { // a frozen process loses its ticks
			n.s.active = n
			n.stepper.Tick()
			n.pump()
		}
		n.s.sched.after(tickInterval, tick)
	}
	n.s.sched.after(n.s.sched.between(0, tickInterval), tick)
	n.pump()
}

// crash stops the node at once: pending calls fail, queued disk and apply
// work is lost, and the disk keeps only what was synced.
func (n *simNode) crash(reason string) {
	if !n.up {
		return
	}
	n.up = false
	n.incarnation++
	n.s.trace.record("crash", n.id)
	n.s.trace.logf("node %d crashed (%s)", n.id, reason)
	n.persistQ, n.persisting, n.applyQ, n.applying = nil, false, nil, false
	reads := append(n.readInFlight, n.readQ...)
	n.readInFlight, n.readQ = nil, nil
	n.stepper.Fail(errCrashed)
	for _, cb := range reads {
		cb(0, errCrashed)
	}
	disk, err := n.disk.crash()
	if err != nil {
		n.s.violationf("node %d: disk unreadable after crash: %v", n.id, err)
		n.retired = true
		return
	}
	n.disk = disk
}

// stopped reports whether n is down, taking it down first if its engine
// stopped itself (raftcore.Stepper.Err). An engine stopped by a read of the
// log its disk failed (NemesisReadError) goes down as in a crash, and
// starts again later from its disk; one stopped for any other reason (raft
// found an invariant broken) is a violation, and the node stays down.
func (n *simNode) stopped() bool {
	if !n.up {
		return true
	}
	err := n.stepper.Err()
	if err == nil {
		return false
	}
	if !errors.Is(err, errDiskRead) {
		n.s.stopForGood(n, "node %d: %v", n.id, err)
		return true
	}
	n.stopOnReadError(err)
	return true
}

// stopOnReadError takes n down after its engine stopped on a read of the
// log its disk failed: as in a crash, to start again later from its disk.
func (n *simNode) stopOnReadError(err error) {
	n.s.readErrorStops++
	n.s.trace.record("read-error-stop", n.id)
	n.crash(err.Error())
	n.s.nemesis.readErrors.restartLater(n, 10*time.Millisecond, 500*time.Millisecond)
}

// step delivers a message from the network, as a transport would: through
// the engine's checks of what a peer may send. An honest message refused is
// a violation.
func (n *simNode) step(m *raftpb.Message) {
	n.s.active = n
	if err := n.stepper.Deliver(m); err != nil {
		n.s.violationf("node %d refused an honest message: %v", n.id, err)
	}
	n.pump()
}

// paused reports whether the node's process is frozen now.
func (n *simNode) paused() bool { return n.s.sched.now < n.pausedUntil }

// whenAwake runs fn now, or once the node's process is no longer frozen.
func (n *simNode) whenAwake(fn func()) {
	if n.paused() {
		n.s.sched.after(n.pausedUntil-n.s.sched.now, func() { n.whenAwake(fn) })
		return
	}
	fn()
}

// pump routes everything the engine produced until it has nothing more.
// Every call that drives a node's engine is followed by one: it takes down
// a node whose engine stopped.
func (n *simNode) pump() {
	n.s.active = n
	for !n.stopped() {
		out := n.stepper.Ready()
		if len(out.Messages)+len(out.Snapshots)+len(out.Persist)+len(out.Apply) == 0 && !out.SnapshotWanted {
			break
		}
		if out.SnapshotWanted && !n.snapshotQueued() {
			// raft's latest snapshot predates the membership; take a fresh one
			// behind the applies already queued, as the runtime does.
			n.applyQ = append(n.applyQ, applyJob{})
		}
		for _, m := range out.Messages {
			n.s.net.send(m)
		}
		for _, m := range out.Snapshots {
			n.s.net.sendSnapshot(n, m)
		}
		if len(out.Persist) > 0 {
			n.persistQ = append(n.persistQ, out.Persist...)
			n.schedulePersist()
		}
		for _, m := range out.Apply {
			n.applyQ = append(n.applyQ, applyJob{msg: m})
		}
		n.scheduleApply()
	}
	if !n.stopped() {
		n.s.check.observe(n)
		n.s.check.membership(n)
	}
}

// route delivers responses released by the log writer or the applier.
func (n *simNode) route(resps []*raftpb.Message) {
	for _, m := range resps {
		if m.GetTo() == n.id {
			n.stepper.Step(m)
		} else {
			n.s.net.send(m)
		}
	}
}

func (n *simNode) diskLatency() time.Duration {
	if n.slowDisk {
		return n.s.sched.between(5*time.Millisecond, 80*time.Millisecond)
	}
	return n.s.sched.between(50*time.Microsecond, time.Millisecond)
}

// schedulePersist runs the log writer: everything queued is saved as one
// batch (one fsync) after the disk's latency.
func (n *simNode) schedulePersist() {
	if n.persisting || len(n.persistQ) == 0 {
		return
	}
	n.persisting = true
	inc := n.incarnation
	var run func()
	run = func() {
		if !n.alive(inc) {
			return
		}
		if n.paused() {
			n.s.sched.after(n.pausedUntil-n.s.sched.now, run)
			return
		}
		n.s.active = n
		msgs := n.persistQ
		n.persistQ = nil
		n.s.trace.record("persist", n.id, uint64(len(msgs)))
		resps, err := n.stepper.Persist(msgs)
		if err != nil {
			n.s.violationf("node %d: persist: %v", n.id, err)
			n.crash("persist failed")
			return
		}
		if n.disk.deferSync {
			n.s.sched.after(n.s.sched.between(time.Millisecond, syncDelayMax), func() {
				if n.alive(inc) {
					if err := n.disk.sync(); err != nil {
						n.s.violationf("node %d: sync: %v", n.id, err)
					}
				}
			})
		}
		n.route(resps)
		n.persisting = false
		n.pump()
		n.schedulePersist()
	}
	n.s.sched.after(n.diskLatency(), run)
}

// scheduleApply runs the applier: one job after another, in order.
func (n *simNode) scheduleApply() {
	if n.applying || len(n.applyQ) == 0 {
		return
	}
	n.applying = true
	inc := n.incarnation
	latency := n.s.sched.between(20*time.Microsecond, 300*time.Microsecond)
	if n.slowDisk {
		latency = n.s.sched.between(2*time.Millisecond, 30*time.Millisecond)
	}
	var run func()
	run = func() {
		if !n.alive(inc) {
			return
		}
		if wake := max(n.pausedUntil, n.applyStalledUntil); n.s.sched.now < wake {
			// Look again soon: a stall may end early (stallUntilSnapshot).
			n.s.sched.after(min(wake-n.s.sched.now, 10*time.Millisecond), run)
			return
		}
		n.s.active = n
		job := n.applyQ[0]
		n.applyQ = n.applyQ[1:]
		if job.msg == nil {
			meta, err := n.stepper.TakeSnapshot()
			if err != nil {
				n.s.violationf("node %d: snapshot: %v", n.id, err)
			}
			n.s.trace.record("snapshot", n.id, meta.Index)
			n.s.trace.logf("node %d snapshot at %d", n.id, meta.Index)
		} else {
			applied := n.stepper.AppliedIndex()
			for _, ent := range job.msg.GetEntries() {
				if ent.GetIndex() > applied {
					n.s.check.applied(n, ent)
				}
			}
			resps, err := n.stepper.Apply(job.msg)
			if errors.Is(err, errDiskRead) {
				// Raft read the log as it applied a membership change.
				n.stopOnReadError(err)
				return
			}
			if err != nil {
				n.s.violationf("node %d: apply: %v", n.id, err)
				n.crash("apply failed")
				return
			}
			n.route(resps)
		}
		n.applying = false
		n.pump()
		n.scheduleApply()
	}
	n.s.sched.after(latency, run)
}

// snapshotQueued reports whether a snapshot job waits in the apply queue.
func (n *simNode) snapshotQueued() bool {
	return slices.ContainsFunc(n.applyQ, func(j applyJob) bool { return j.msg == nil })
}

// snapshot queues a snapshot behind the applies already queued.
func (n *simNode) snapshot() {
	if !n.up {
		return
	}
	n.applyQ = append(n.applyQ, applyJob{})
	n.scheduleApply()
}

// readIndex asks for a linearizable read index; done runs once it is applied.
func (n *simNode) readIndex(done func(index uint64, err error)) {
	n.readQ = append(n.readQ, done)
	n.issueReads()
}

func (n *simNode) issueReads() {
	if !n.up || len(n.readInFlight) > 0 || len(n.readQ) == 0 {
		return
	}
	batch := n.readQ
	n.readQ, n.readInFlight = nil, batch
	n.readRounds++
	inc := n.incarnation
	n.s.active = n
	defer n.s.net.releaseHeld(n, false)
	n.stepper.ReadIndex(func(index uint64, err error) {
		if !n.alive(inc) {
			return
		}
		n.readInFlight = nil
		for _, cb := range batch {
			cb(index, err)
		}
		n.s.sched.after(0, func() {
			if n.alive(inc) {
				n.issueReads()
				n.pump()
			}
		})
	})
	n.pump()
}

// nopTransport is the Transport a Stepper is given: the simulator's network
// carries the messages, so it only hears about peers.
type nopTransport struct{}

func (nopTransport) Start(raftcore.Handler) error { return nil }
func (nopTransport) Send([]*raftpb.Message)       {}
func (nopTransport) AddPeer(raftcore.Peer) error  { return nil }
func (nopTransport) RemovePeer(uint64)            {}
func (nopTransport) Close() error                 { return nil }
func (nopTransport) SendSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return nil
}
