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
	// longDelay is the share of messages carrying entries that also arrive
	// seconds late (see NemesisLongDelay).
	longDelay float64
}

const (
	minLatency = 100 * time.Microsecond
	maxLatency = 2 * time.Millisecond
)

func newNetwork(s *simulation) *network { return &network{s: s, blocked: map[link]bool{}} }

// heal removes every network fault.
func (n *network) heal() {
	clear(n.blocked)
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
	copies := 1
	if n.duplicate > 0 && s.sched.chance(n.duplicate) {
		copies = 2
	}
	if n.longDelay > 0 && len(m.GetEntries()) > 0 && s.sched.chance(n.longDelay) {
		// Raft may modify a message it steps; each copy is its own.
		late := proto.Clone(m).(*raftpb.Message)
		s.trace.record("late", m.GetFrom(), m.GetTo())
		s.sched.after(s.sched.between(longDelayMin, longDelayMax), func() { n.deliver(late) })
		if s.sched.chance(0.5) {
			copies-- // held back, not duplicated: the sender proposes again meanwhile
		}
	}
	for i := range copies {
		msg := m
		if i > 0 {
			msg = proto.Clone(m).(*raftpb.Message)
		}
		s.sched.after(n.latency(), func() { n.deliver(msg) })
	}
}

func (n *network) deliver(m *raftpb.Message) {
	s := n.s
	to := s.nodes[m.GetTo()]
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
	// A snapshot takes longer than a message: one millisecond per 64 KiB.
	transfer := n.latency() + time.Duration(len(body)/(64<<10))*time.Millisecond
	s.sched.after(transfer, func() {
		to := s.nodes[m.GetTo()]
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
		to.pump()
		report(true)
	})
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
