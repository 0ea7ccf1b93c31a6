package raftcore

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// errBadMessage marks a message from a peer that the engine refuses to step.
var errBadMessage = errors.New("raftcore: refused message from peer")

// validateRemote checks a message received from another node before it
// reaches raft. etcd raft trusts its input: some shapes it assumes (a
// MsgReadIndex "from itself" with no entry, a local message type, an append
// whose entries do not follow its index) reach its panics or make it act for
// someone else. A peer holding valid credentials may still send anything, so
// every inbound message is checked against what an honest raft node sends.
//
// It does not make raft Byzantine-tolerant: a member can still lie within
// the protocol (claim a higher term, vote as it likes). It keeps such a
// member from crashing this node or acting under another node's name.
func validateRemote(m *raftpb.Message, self uint64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %d->%d: %s", errBadMessage, m.GetType(), m.GetFrom(), m.GetTo(), fmt.Sprintf(format, args...))
	}
	typ := m.GetType()
	if _, ok := raftpb.MessageType_name[int32(typ)]; !ok {
		return bad("unknown type")
	}
	switch {
	case m.GetTo() != self:
		return bad("addressed to another node")
	case m.GetFrom() == raft.None || raft.IsLocalMsgTarget(m.GetFrom()):
		return bad("sender is not a peer")
	case m.GetFrom() == self && typ != raftpb.MsgProp && typ != raftpb.MsgReadIndex && typ != raftpb.MsgTransferLeader:
		// A follower relays proposals, read requests and transfer requests
		// (From is the transferee) to the leader it knows with their From
		// unchanged, so this node's own come back when it has become the
		// leader. Nothing else comes from itself.
		return bad("sender is this node")
	case raft.IsLocalMsg(typ) || typ == raftpb.MsgForgetLeader:
		return bad("local message type")
	case typ == raftpb.MsgSnap:
		return bad("snapshots arrive as streams")
	case len(m.GetResponses()) > 0:
		return bad("carries responses")
	}
	ents := m.GetEntries()
	switch typ {
	case raftpb.MsgReadIndex, raftpb.MsgReadIndexResp:
		// raft reads Entries[0] as the request's context.
		if len(ents) != 1 {
			return bad("%d entries, want 1", len(ents))
		}
	case raftpb.MsgProp:
		if len(ents) == 0 {
			return bad("no entries")
		}
		for _, ent := range ents {
			// Followers forward commands only; membership changes are
			// proposed on the leader itself, by an operator. An entry must
			// carry the envelope of its proposer, the sender: a member may
			// not propose under another node's name or proposal ids.
			if ent.GetType() != raftpb.EntryNormal {
				return bad("forwarded %v entry", ent.GetType())
			}
			origin, _, _, err := parseEnvelope(ent.GetData())
			if err != nil {
				return bad("entry: %v", err)
			}
			if origin != m.GetFrom() {
				return bad("entry proposed by node %d", origin)
			}
		}
	case raftpb.MsgApp:
		// Entries follow the index the append starts after, in order, with
		// terms that never decrease and never pass the message's term.
		prevTerm := m.GetLogTerm()
		if prevTerm > m.GetTerm() {
			return bad("log term %d above term %d", prevTerm, m.GetTerm())
		}
		for i, ent := range ents {
			if ent.GetIndex() != m.GetIndex()+1+uint64(i) {
				return bad("entry %d at index %d after index %d", i, ent.GetIndex(), m.GetIndex())
			}
			if ent.GetTerm() < prevTerm || ent.GetTerm() > m.GetTerm() {
				return bad("entry %d has term %d", ent.GetIndex(), ent.GetTerm())
			}
			prevTerm = ent.GetTerm()
		}
	default:
		if len(ents) > 0 {
			return bad("unexpected entries")
		}
	}
	forwarded := typ == raftpb.MsgProp || typ == raftpb.MsgReadIndex
	switch {
	case forwarded && m.GetTerm() != 0:
		// Raft sends proposals and read requests without a term, and a
		// follower relaying one with a term panics.
		return bad("term %d on a message raft sends without one", m.GetTerm())
	case !forwarded && typ != raftpb.MsgTransferLeader && m.GetTerm() == 0:
		// Only messages raft handles before it looks at terms travel with
		// term 0; the rest would be taken as local.
		return bad("term 0")
	}
	return nil
}

// validateSnapshot checks a MsgSnap received from a peer: besides the
// checks of validateRemote, its configuration must be one raft can restore
// (raft panics on one it cannot).
func validateSnapshot(m *raftpb.Message, self uint64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: MsgSnap %d->%d: %s", errBadMessage, m.GetFrom(), m.GetTo(), fmt.Sprintf(format, args...))
	}
	md := m.GetSnapshot().GetMetadata()
	switch {
	case m.GetType() != raftpb.MsgSnap:
		return bad("type %v", m.GetType())
	case m.GetTo() != self:
		return bad("addressed to another node")
	case m.GetFrom() == raft.None || m.GetFrom() == self || raft.IsLocalMsgTarget(m.GetFrom()):
		return bad("sender is not a peer")
	case m.GetTerm() == 0 || md.GetIndex() == 0 || md.GetTerm() == 0 || md.GetTerm() > m.GetTerm():
		return bad("term %d, snapshot index %d term %d", m.GetTerm(), md.GetIndex(), md.GetTerm())
	case len(m.GetEntries()) > 0 || len(m.GetResponses()) > 0 || len(m.GetSnapshot().GetData()) > 0:
		return bad("unexpected entries, responses or inline data")
	case len(md.GetConfState().GetVoters()) == 0:
		return bad("no voters")
	}
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: md.GetIndex()}
	if _, _, err := confchange.Restore(chg, md.GetConfState()); err != nil {
		return bad("configuration: %v", err)
	}
	return nil
}

// checkRemote validates a message from a peer, and decodes the commands a
// follower forwards: an entry that no node could apply would stop every
// node of the cluster once committed.
func (e *engine) checkRemote(m *raftpb.Message) error {
	if err := validateRemote(m, e.id); err != nil {
		return err
	}
	if !e.plausible(m) {
		// From an honest leader, a heartbeat committing past this log means
		// this node lost entries it had acknowledged (a disk that lied):
		// say so loudly; raft would have stopped the node on it.
		return fmt.Errorf("%w: %s %d->%d does not fit this node's log (last index %d, commit %d): a hostile sender, or entries this node acknowledged were lost",
			errBadMessage, m.GetType(), m.GetFrom(), m.GetTo(), e.lastIndex.Load(), m.GetCommit())
	}
	if m.GetType() == raftpb.MsgProp {
		for _, ent := range m.GetEntries() {
			_, _, payload, _ := parseEnvelope(ent.GetData())
			if err := e.sm.check(payload); err != nil {
				return fmt.Errorf("%w: MsgProp from %d: %v", errBadMessage, m.GetFrom(), err)
			}
		}
	}
	return nil
}

// plausible checks a peer's message against this node's state before raft
// sees it: raft panics on a heartbeat whose commit index is past the end of
// the log, and an honest leader never sends one (it sends at most what the
// follower acknowledged); an honest follower never acknowledges an index
// this leader has not sent; a transfer request reaching a node that is no
// longer the leader would be relayed, which raft panics on. Such messages
// are dropped.
func (e *engine) plausible(m *raftpb.Message) bool {
	if m.GetType() == raftpb.MsgTransferLeader && m.GetTerm() != 0 {
		// A follower would relay it to its leader, and raft panics when it
		// relays one that carries a term, as every relayed one does.
		return Role(e.role.Load()) == RoleLeader && m.GetTerm() <= e.term.Load()
	}
	from := m.GetFrom()
	if from == e.id || raft.IsLocalMsgTarget(from) {
		return true // this node's own, through its storage threads
	}
	switch m.GetType() {
	case raftpb.MsgHeartbeat:
		return m.GetCommit() <= e.lastIndex.Load()
	case raftpb.MsgAppResp:
		// Only against a leader's own term: its log never shrinks while it
		// leads, but a late answer from an earlier term may name entries
		// truncated since (raft ignores those).
		if m.GetReject() || Role(e.role.Load()) != RoleLeader || m.GetTerm() != e.term.Load() {
			return true
		}
		return m.GetIndex() <= e.lastIndex.Load()
	}
	return true
}
