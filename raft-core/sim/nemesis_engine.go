package sim

import (
	"bytes"
	"math"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The nemeses of this file aim at the engine's own paths rather than the
// network's: restarts racing in-flight answers, snapshots arriving over an
// apply backlog, frozen processes, stale snapshots and hostile members.

// restart crashes a node and restarts it within milliseconds, while the
// messages in flight to it are held back for up to two seconds: answers
// meant for the previous incarnation reach the new one, among its own.
func (ns *nemesis) restart() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	// A node waiting for a read index answer, when there is one.
	n := pick(s.sched, nodes)
	for _, c := range nodes {
		if len(c.readInFlight) > 0 {
			n = c
			break
		}
	}
	hold := s.sched.between(20*time.Millisecond, 2*time.Second)
	ns.fault(NemesisRestart, "node %d, messages to its old incarnation held up to %v", n.id, hold)
	h := &held{restarted: math.MaxInt64, rounds: n.readRounds}
	s.net.holdTo[n.id] = h
	n.crash("restart")
	inc := n.incarnation
	s.sched.after(s.sched.between(time.Millisecond, 15*time.Millisecond), func() {
		if n.incarnation != inc || n.up || n.retired || s.net.holdTo[n.id] != h {
			return
		}
		h.restarted, h.until = s.sched.now, s.sched.now+hold
		n.start()
		s.sched.after(hold, func() {
			if s.net.holdTo[n.id] == h {
				s.net.releaseHeld(n, true)
			}
		})
	})
}

// applyBacklog stalls a node's applier and cuts it off for the first part of
// the stall. The node returns with committed entries it has not applied
// (membership changes among them, when a replacement runs) while the others
// moved on and compacted: it catches up by a snapshot over its backlog.
func (ns *nemesis) applyBacklog() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	if s.cfg.has(NemesisMembership) && !ns.memberBusy && s.sched.chance(0.5) {
		// Wait for the next membership change instead: the node's backlog
		// then holds it (see addMember).
		ns.backlogArmed = true
		ns.fault(NemesisApplyBacklog, "armed for the next membership change")
		return
	}
	n := pick(s.sched, nodes)
	stall := s.sched.between(200*time.Millisecond, 1500*time.Millisecond)
	ns.stallAndCut(n, stall, s.sched.between(100*time.Millisecond, stall-50*time.Millisecond))
}

// stallAndCut stalls n's applier for stall and cuts it off for cut.
func (ns *nemesis) stallAndCut(n *simNode, stall, cut time.Duration) {
	s := ns.s
	ns.fault(NemesisApplyBacklog, "node %d: applier stalled %v, cut off %v", n.id, stall, cut)
	n.applyStalledUntil = s.sched.now + stall
	var links []link
	for _, other := range s.ids {
		if other != n.id {
			links = append(links, link{n.id, other}, link{other, n.id})
		}
	}
	for _, l := range links {
		s.net.blocked[l] = true
	}
	ns.lasting(cut, cut, func() {
		for _, l := range links {
			delete(s.net.blocked, l)
		}
		s.trace.logf("heal apply-backlog cut of node %d", n.id)
	})
}

// backlogDuringChange is the armed apply backlog: a follower's applier
// stalls as a membership change is proposed, and the follower is cut off
// once the change has committed (so it knows the change, and has not
// applied it) while the leader goes on, promotes and compacts. It returns
// still stalled and catches up by a snapshot over its backlog: its applier
// resumes as the snapshot arrives, while its slow disk is still installing
// it.
func (ns *nemesis) backlogDuringChange(leader uint64) (cutNow func()) {
	s := ns.s
	if !ns.backlogArmed {
		return func() {}
	}
	ns.backlogArmed = false
	var followers []*simNode
	for _, n := range s.runningNodes() {
		if n.id != leader && !n.join {
			followers = append(followers, n)
		}
	}
	if len(followers) == 0 {
		return func() {}
	}
	n := pick(s.sched, followers)
	n.applyStalledUntil = s.sched.now + 5*time.Second // until cut off
	return func() {
		// Cut once a heartbeat (every 20ms) told the follower the commit,
		// before the learner caught up and was promoted; long enough for
		// the leader to snapshot and compact past it.
		cut := s.sched.between(time.Second, 2500*time.Millisecond)
		stall := cut + s.sched.between(50*time.Millisecond, 500*time.Millisecond)
		s.sched.after(s.sched.between(20*time.Millisecond, 40*time.Millisecond), func() {
			if !s.healed { // faults end when the run heals
				ns.stallAndCut(n, stall, cut)
				n.stallUntilSnapshot, n.slowDisk = true, true
				ns.lasting(stall, stall, func() { n.stallUntilSnapshot, n.slowDisk = false, false })
			}
		})
	}
}

// pause freezes a node's process: no ticks (they are lost, as time.Ticker
// drops them), no work, messages and requests wait; on waking its clock has
// jumped ahead.
func (ns *nemesis) pause() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	n := pick(s.sched, nodes)
	d := s.sched.between(50*time.Millisecond, time.Second)
	ns.fault(NemesisPause, "node %d for %v", n.id, d)
	n.pausedUntil = s.sched.now + d
}

// transferAndIsolate is the second half of a leadership transfer, half of
// the time: the old leader hears nothing for a while, so it does not learn
// of the new term (lease reads it served then would be stale).
func (ns *nemesis) transferAndIsolate(old uint64) {
	s := ns.s
	if !s.sched.chance(0.5) {
		return
	}
	d := s.sched.between(50*time.Millisecond, 400*time.Millisecond)
	s.trace.logf("old leader %d hears nothing for %v", old, d)
	var links []link
	for _, other := range s.ids {
		if other != old {
			links = append(links, link{other, old})
		}
	}
	for _, l := range links {
		s.net.blocked[l] = true
	}
	ns.lasting(d, d, func() {
		for _, l := range links {
			delete(s.net.blocked, l)
		}
	})
}

// staleSnapshot streams again a snapshot sent earlier, to its receiver or
// another node: raft declines most of them (a lower term, an index already
// committed); a declined one must never displace the snapshot the node's log
// points to.
func (ns *nemesis) staleSnapshot() {
	s := ns.s
	if len(s.net.snapshots) == 0 {
		return
	}
	old := pick(s.sched, s.net.snapshots)
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		return
	}
	to := pick(s.sched, nodes)
	if to.id == old.msg.GetFrom() {
		return
	}
	m := proto.Clone(old.msg).(*raftpb.Message)
	m.To = new(to.id)
	ns.fault(NemesisStaleSnapshot, "snapshot %d (term %d) from %d to %d", m.GetSnapshot().GetMetadata().GetIndex(), m.GetTerm(), m.GetFrom(), to.id)
	to.whenAwake(func() {
		if !to.up {
			return
		}
		s.active = to
		if err := to.stepper.ReceiveSnapshot(m, bytes.NewReader(old.body)); err != nil {
			s.trace.logf("stale snapshot refused: %v", err)
		}
		to.pump()
	})
}

// hostile makes a member send a node messages no honest node sends, each of
// which the node must refuse, and stale copies of real messages, which it
// may step but must survive with every invariant intact.
func (ns *nemesis) hostile() {
	s := ns.s
	nodes := s.runningNodes()
	if len(nodes) < 2 {
		return
	}
	to := pick(s.sched, nodes)
	var from uint64
	for from == 0 || from == to.id {
		from = pick(s.sched, nodes).id
	}
	term := to.stepper.Term()
	forged := forgedMessages(from, to.id, term)
	k := pick(s.sched, forged)
	ns.fault(NemesisHostile, "member %d sends node %d: %s", from, to.id, k.name)
	s.active = to
	if err := to.stepper.Deliver(k.msg); err == nil {
		s.violationf("node %d accepted a forged message (%s) from %d", to.id, k.name, from)
	}
	// A stale copy of a real message from that member.
	for i := len(s.net.recent) - 1; i >= 0; i-- {
		m := s.net.recent[i]
		if m.GetFrom() != from || m.GetTo() != to.id || term < 2 {
			continue
		}
		stale := proto.Clone(m).(*raftpb.Message)
		stale.Term = new(term - 1)
		stale.LogTerm = new(min(stale.GetLogTerm(), term-1))
		for _, ent := range stale.GetEntries() {
			ent.Term = new(min(ent.GetTerm(), term-1))
		}
		s.trace.logf("member %d replays a stale %v to node %d", from, stale.GetType(), to.id)
		_ = to.stepper.Deliver(stale)
		break
	}
	to.pump()
}

type forgedMessage struct {
	name string
	msg  *raftpb.Message
}

// forgedMessages lists messages a member may never send to node to.
func forgedMessages(from, to, term uint64) []forgedMessage {
	term = max(term, 1) // a node that heard of no leader yet is at term 0
	msg := func(typ raftpb.MessageType, from uint64, ents ...*raftpb.Entry) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), From: new(from), To: new(to), Term: new(term), Entries: ents}
	}
	ent := func(typ raftpb.EntryType, index uint64, data []byte) *raftpb.Entry {
		return &raftpb.Entry{Type: typ.Enum(), Index: new(index), Term: new(term), Data: data}
	}
	readFromSelf := msg(raftpb.MsgReadIndex, to)
	readFromSelf.Term = nil
	noEntryRead := msg(raftpb.MsgReadIndex, from)
	noEntryRead.Term = nil
	zeroTerm := msg(raftpb.MsgHeartbeat, from)
	zeroTerm.Term = new(uint64(0))
	gap := msg(raftpb.MsgApp, from, ent(raftpb.EntryNormal, 7, nil), ent(raftpb.EntryNormal, 9, nil))
	gap.Index = new(uint64(6))
	otherNode := msg(raftpb.MsgHeartbeat, from)
	otherNode.To = new(to + 100)
	snap := msg(raftpb.MsgSnap, from)
	snap.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1 << 40)), Term: new(term)}}
	unknown := msg(raftpb.MessageType(99), from)
	// The engine's entry envelope (version 2; origin, epoch and sequence as
	// uvarints) naming the receiver as the proposer; ids here are < 128.
	othersEnvelope := []byte{2, byte(to), 1, 1}
	ccData, _ := proto.Marshal(&raftpb.ConfChange{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: new(to)})
	return []forgedMessage{
		{"a read index request in the node's own name, without entries", readFromSelf},
		{"a read index request without entries", noEntryRead},
		{"a read index request with a term", msg(raftpb.MsgReadIndex, from, ent(raftpb.EntryNormal, 0, []byte("ctx")))},
		{"a local MsgForgetLeader", msg(raftpb.MsgForgetLeader, from)},
		{"a local MsgHup", msg(raftpb.MsgHup, from)},
		{"a storage append response", msg(raftpb.MsgStorageAppendResp, from)},
		{"an append whose entries skip an index", gap},
		{"a forwarded membership change", msg(raftpb.MsgProp, from, ent(raftpb.EntryConfChange, 0, ccData))},
		{"a forwarded command without an envelope", msg(raftpb.MsgProp, from, ent(raftpb.EntryNormal, 0, []byte("junk")))},
		{"a forwarded command in another node's name", msg(raftpb.MsgProp, from, ent(raftpb.EntryNormal, 0, othersEnvelope))},
		{"a heartbeat with term 0", zeroTerm},
		{"a message for another node", otherNode},
		{"a snapshot outside a stream", snap},
		{"a message of unknown type", unknown},
	}
}
