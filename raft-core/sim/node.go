package sim

import (
	"context"
	"io"
	"log/slog"
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
	stepper     *raftcore.Stepper[kvCommand, kvResult]
	kv          *kvMachine
	disk        *diskStore
	snaps       *raftcore.MemorySnapshotStore

	persistQ   []*raftpb.Message
	persisting bool
	applyQ     []applyJob
	applying   bool
	slowDisk   bool

	// Linearizable reads wait here while one ReadIndex is in flight, then go
	// as one batch (as the runtime batches them).
	readQ        []func(index uint64, err error)
	readInFlight []func(index uint64, err error)
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
	n.kv = newKVMachine()
	n.kv.applied = func(index uint64, cmd kvCommand, res kvResult) {
		if n.s.trace.verbose() {
			n.s.trace.logf("kv   %d applies %d: op %d %v %s=%s expect=%s -> %+v", n.id, index, cmd.ID, cmd.Op, cmd.Key, cmd.Value, cmd.Expect, res)
		}
		n.s.check.appliedCommand(n, index, cmd)
	}
	n.s.active = n
	st, err := raftcore.NewStepper(n.config(), n.kv, kvCodec{}, n.proposalEpoch())
	if err != nil {
		n.s.violationf("node %d: restart failed: %v", n.id, err)
		n.retired = true
		return
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
		n.s.active = n
		n.stepper.Tick()
		n.pump()
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

// step delivers a message from the network.
func (n *simNode) step(m *raftpb.Message) {
	n.s.active = n
	n.stepper.Step(m)
	n.pump()
}

// pump routes everything the engine produced until it has nothing more.
func (n *simNode) pump() {
	n.s.active = n
	for n.up {
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
	if n.up {
		n.s.check.observe(n)
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
	n.s.sched.after(n.diskLatency(), func() {
		if !n.alive(inc) {
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
	})
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
	n.s.sched.after(latency, func() {
		if !n.alive(inc) {
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
	})
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
	inc := n.incarnation
	n.s.active = n
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
