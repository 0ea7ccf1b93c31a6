package sim

import (
	"bytes"
	"io"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// link is one direction between two nodes.
type link struct{ from, to uint64 }

// network delivers raft messages between simulated nodes after a random
// latency, subject to the faults the nemesis sets: blocked links
// (partitions), loss, duplication, extra delay and jitter (reordering).
type network struct {
	s          *simulation
	blocked    map[link]bool
	loss       float64
	duplicate  float64
	extraDelay time.Duration
	jitter     time.Duration
	// holdTo delays the messages sent to a node before it crashed until a
	// given time (NemesisRestart): those meant for its previous incarnation
	// reach the next one late.
	holdTo map[uint64]*held
	// recent keeps a few messages and snapshots seen on the wire, for the
	// nemeses that replay or forge them.
	recent    []*raftpb.Message
	snapshots []sentSnapshot
	// longDelay is the share of messages carrying entries that also arrive
	// seconds late (see NemesisLongDelay).
	longDelay float64
}

// held describes the messages sent to a node before it restarted
// (NemesisRestart): they are held back until its new incarnation has issued
// as many read index rounds as the old one had and has one in flight (so a
// late answer meets the round most likely to share its request id), or
// until the deadline.
type held struct {
	restarted, until time.Duration
	rounds           int
	queue            []heldMessage
}

type heldMessage struct {
	m    *raftpb.Message
	sent time.Duration
}

// releaseHeld delivers node n's held messages once their moment has come,
// or all of them when deadline is set.
func (n *network) releaseHeld(to *simNode, deadline bool) {
	h, ok := n.holdTo[to.id]
	if !ok || (!deadline && !(to.up && to.readRounds >= h.rounds && len(to.readInFlight) > 0)) {
		return
	}
	delete(n.holdTo, to.id)
	n.s.sched.after(0, func() {
		for _, hm := range h.queue {
			n.deliver(hm.m, hm.sent)
		}
	})
}

// sentSnapshot is a snapshot stream as it went over the wire.
type sentSnapshot struct {
	msg  *raftpb.Message
	body []byte
}

const (
	recentMessages  = 32
	recentSnapshots = 8
)

const (
	minLatency = 100 * time.Microsecond
	maxLatency = 2 * time.Millisecond
)

func newNetwork(s *simulation) *network {
	return &network{s: s, blocked: map[link]bool{}, holdTo: map[uint64]*held{}}
}

// heal removes every network fault.
func (n *network) heal() {
	clear(n.blocked)
	clear(n.holdTo)
	n.loss, n.duplicate, n.extraDelay, n.jitter, n.longDelay = 0, 0, 0, 0, 0
}

func (n *network) connected(from, to uint64) bool { return !n.blocked[link{from, to}] }

func (n *network) latency() time.Duration {
	d := n.s.sched.between(minLatency, maxLatency)
	if n.extraDelay > 0 {
		d += n.s.sched.between(0, n.extraDelay)
	}
	if n.jitter > 0 {
		d += n.s.sched.between(0, n.jitter)
	}
	return d
}

// send puts m on the wire from m.From to m.To.
func (n *network) send(m *raftpb.Message) {
	s := n.s
	s.trace.record("send", m.GetFrom(), m.GetTo(), uint64(m.GetType()), m.GetTerm(), m.GetLogTerm(), m.GetIndex(), m.GetCommit(), uint64(len(m.GetEntries())), boolBit(m.GetReject()))
	if s.trace.verbose() {
		s.trace.logf("net  %d->%d %v term=%d logterm=%d index=%d commit=%d entries=%d reject=%v", m.GetFrom(), m.GetTo(), m.GetType(), m.GetTerm(), m.GetLogTerm(), m.GetIndex(), m.GetCommit(), len(m.GetEntries()), m.GetReject())
	}
	if n.loss > 0 && s.sched.chance(n.loss) {
		s.trace.record("lost")
		return
	}
	if s.cfg.has(NemesisHostile) && m.GetTerm() > 0 && s.sched.chance(1.0/16) {
		n.recent = append(n.recent, proto.Clone(m).(*raftpb.Message))
		if len(n.recent) > recentMessages {
			n.recent = n.recent[1:]
		}
	}
	copies := 1
	if n.duplicate > 0 && s.sched.chance(n.duplicate) {
		copies = 2
	}
	if n.longDelay > 0 && len(m.GetEntries()) > 0 && s.sched.chance(n.longDelay) {
		// Raft may modify a message it steps; each copy is its own.
		late := proto.Clone(m).(*raftpb.Message)
		s.trace.record("late", m.GetFrom(), m.GetTo())
		sent := s.sched.now
		s.sched.after(s.sched.between(longDelayMin, longDelayMax), func() { n.deliver(late, sent) })
		if s.sched.chance(0.5) {
			copies-- // held back, not duplicated: the sender proposes again meanwhile
		}
	}
	for i := range copies {
		msg := m
		if i > 0 {
			msg = proto.Clone(m).(*raftpb.Message)
		}
		sent := s.sched.now
		s.sched.after(n.latency(), func() { n.deliver(msg, sent) })
	}
}

// deliver hands m, sent at sent, to its node: later if the node is frozen,
// or if m was sent to an incarnation that NemesisRestart replaced.
func (n *network) deliver(m *raftpb.Message, sent time.Duration) {
	s := n.s
	to := s.nodes[m.GetTo()]
	if to != nil {
		if h, ok := n.holdTo[to.id]; ok && sent < h.restarted {
			h.queue = append(h.queue, heldMessage{m, sent})
			return
		}
		if wake := to.pausedUntil; s.sched.now < wake {
			s.sched.after(wake-s.sched.now, func() { n.deliver(m, sent) })
			return
		}
	}
	if to == nil || !to.up || !n.connected(m.GetFrom(), m.GetTo()) {
		s.trace.record("drop", m.GetFrom(), m.GetTo(), uint64(m.GetType()))
		return
	}
	s.trace.record("recv", m.GetFrom(), m.GetTo(), uint64(m.GetType()), m.GetTerm(), m.GetIndex())
	to.step(m)
}

// sendSnapshot streams the snapshot a MsgSnap names from node from to its
// receiver, then reports the outcome to the sender, as a transport would.
func (n *network) sendSnapshot(from *simNode, m *raftpb.Message) {
	s := n.s
	s.trace.record("snap", m.GetFrom(), m.GetTo(), m.GetSnapshot().GetMetadata().GetIndex())
	s.trace.logf("snap %d->%d index=%d term=%d", m.GetFrom(), m.GetTo(), m.GetSnapshot().GetMetadata().GetIndex(), m.GetSnapshot().GetMetadata().GetTerm())
	var body []byte
	rc, err := from.stepper.OpenSnapshot(m)
	if err == nil {
		body, err = io.ReadAll(rc)
		rc.Close()
	}
	inc := from.incarnation
	report := func(ok bool) {
		s.sched.after(n.latency(), func() {
			if from.alive(inc) {
				s.trace.record("snapreport", m.GetFrom(), m.GetTo(), boolBit(ok))
				s.active = from
				from.stepper.ReportSnapshot(m.GetTo(), ok)
				from.pump()
			}
		})
	}
	if err != nil {
		s.violationf("node %d: open snapshot %d to send: %v", from.id, m.GetSnapshot().GetMetadata().GetIndex(), err)
		report(false)
		return
	}
	if s.cfg.has(NemesisStaleSnapshot) {
		n.snapshots = append(n.snapshots, sentSnapshot{msg: proto.Clone(m).(*raftpb.Message), body: body})
		if len(n.snapshots) > recentSnapshots {
			n.snapshots = n.snapshots[1:]
		}
	}
	// A snapshot takes longer than a message: one millisecond per 64 KiB.
	transfer := n.latency() + time.Duration(len(body)/(64<<10))*time.Millisecond
	var deliver func()
	deliver = func() {
		to := s.nodes[m.GetTo()]
		if to != nil && to.paused() {
			s.sched.after(to.pausedUntil-s.sched.now, deliver)
			return
		}
		if to == nil || !to.up || !n.connected(m.GetFrom(), m.GetTo()) || (n.loss > 0 && s.sched.chance(n.loss)) {
			s.trace.record("snapdrop", m.GetFrom(), m.GetTo())
			report(false)
			return
		}
		s.active = to
		if err := to.stepper.ReceiveSnapshot(m, bytes.NewReader(body)); err != nil {
			s.trace.logf("snap %d->%d rejected: %v", m.GetFrom(), m.GetTo(), err)
			report(false)
			return
		}
		resumed := to.stallUntilSnapshot
		if resumed {
			to.stallUntilSnapshot, to.applyStalledUntil = false, 0
			s.trace.logf("node %d's applier resumes over its backlog", to.id)
		}
		to.pump()
		if resumed {
			to.slowDisk = false // the install is on its way, slowly
		}
		report(true)
	}
	s.sched.after(transfer, deliver)
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
