package raftcore

import (
	"bytes"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Lease reads (Config.LeaseReads).
//
// A read index round proves that a quorum heard from this leader after the
// round began: each of those followers reset its election timer on the
// round's heartbeat, and raft's CheckQuorum makes a follower refuse to vote
// for anyone else until a full election timeout has passed since then. No
// other leader can be elected before that, so until
//
//	round start + leaseFraction × (ElectionTimeout − one tick)
//
// this leader's commit index covers every write acknowledged anywhere, and
// reads may be served from it without another round.
//
// The lease is measured on the wall clock (Config.Now), not in ticks: a
// process paused by SIGSTOP or a long GC pause loses ticks (time.Ticker drops
// them) and would wake believing its lease still runs. The argument assumes
// the nodes' clocks run at rates within leaseFraction of each other, and it
// breaks in three ways the engine closes:
//   - a leadership transfer makes the target campaign with votes the lease
//     does not stop, so a leader stops serving lease reads from the moment it
//     starts a transfer, for the rest of its term;
//   - a restarted follower has forgotten the leader it heard and would vote
//     at once, so with lease reads a node refuses votes for its first
//     election timeout (refuseVoteInLease);
//   - reads forwarded by followers take the read index round on the leader
//     (raft's safe path), and a leader serves lease reads only once it has
//     committed an entry of its term.
//
// Every node of a cluster must set LeaseReads alike.

// leaseFraction is the share of the election timeout a lease may use; the
// rest absorbs the difference in clock rates between nodes.
const leaseFraction = 0.8

func (e *engine) leaseDuration() time.Duration {
	ticks := max(e.cfg.electionTicks()-1, 0)
	return time.Duration(float64(time.Duration(ticks)*e.cfg.TickInterval) * leaseFraction)
}

// leaseGrant is a lease this leader holds in term until the wall clock
// passes until. It is replaced, never changed, so that a reader on any
// goroutine sees one consistent grant.
type leaseGrant struct {
	term  uint64
	until time.Time
}

// leaseRead serves ws from the lease if it holds, and reports whether it did.
func (e *engine) leaseRead(ws []*readWaiter) bool {
	index, ok := e.leaseIndex()
	if !ok {
		return false
	}
	e.waitApplied(index, ws)
	return true
}

// leaseIndex returns the read index a lease read may use now: the commit
// index, if this leader holds a lease. It is safe on any goroutine. A grant
// exists only once the leader committed an entry of its term (extendLease)
// and is withdrawn as a transfer starts (noteTransfer), so the checks here
// are the lease's clock and that the grant is this term's. The commit index
// is published before anything at or below it is applied or sent
// (observeState), so it covers every write acknowledged before this call.
func (e *engine) leaseIndex() (uint64, bool) {
	if !e.cfg.LeaseReads {
		return 0, false
	}
	g := e.lease.Load()
	if g == nil || Role(e.role.Load()) != RoleLeader || e.term.Load() != g.term {
		return 0, false
	}
	if !e.cfg.Now().Before(g.until) {
		return 0, false
	}
	return e.commit.Load(), true
}

// waitApplied releases ws once the applied index reaches index. It is safe
// on any goroutine.
func (e *engine) waitApplied(index uint64, ws []*readWaiter) {
	e.reads.wait(index, e.applied.Load(), ws)
	// The applier may have advanced past index between the load and wait.
	e.reads.advance(e.applied.Load())
}

// extendLease starts or extends the lease after a read index round that
// began at start completed in the current term, once this leader committed
// an entry of its term.
func (e *engine) extendLease(start time.Time) {
	term := e.term.Load()
	if !e.cfg.LeaseReads || Role(e.role.Load()) != RoleLeader || !e.committedInTerm() {
		return
	}
	if e.transferTerm == term && !e.faults.leaseDuringTransfer {
		return
	}
	until := start.Add(e.leaseDuration())
	if g := e.lease.Load(); g == nil || g.term != term || until.After(g.until) {
		e.lease.Store(&leaseGrant{term: term, until: until})
	}
}

// noteTransfer voids the lease for the rest of the term once this leader has
// started handing leadership away. It runs before the Ready whose messages
// start the transfer is sent.
func (e *engine) noteTransfer() {
	if !e.cfg.LeaseReads || Role(e.role.Load()) != RoleLeader {
		return
	}
	if e.rn.BasicStatus().LeadTransferee != 0 {
		e.transferTerm = e.term.Load()
		if !e.faults.leaseDuringTransfer {
			e.lease.Store(nil)
		}
	}
}

// campaignTransfer is the context raft gives the votes of a transfer.
var campaignTransfer = []byte("CampaignTransfer")

// refuseVoteInLease drops vote requests during a restarted node's first
// election timeout when lease reads are on. A node that just started does not know
// the leader it may have acknowledged before a crash, so raft would vote at
// once — possibly electing a second leader while the first still serves
// reads from its lease. Votes of a leadership transfer pass: the leader that
// started it no longer serves lease reads.
func (e *engine) refuseVoteInLease(m *raftpb.Message) bool {
	if !e.cfg.LeaseReads || !e.restarted || e.ticks >= uint64(e.cfg.electionTicks()) {
		return false
	}
	return !bytes.Equal(m.GetContext(), campaignTransfer)
}

// engineFaults re-introduces fixed bugs into one engine (Stepper.InjectFault).
type engineFaults struct {
	reapplyMembership   bool
	leaseDuringTransfer bool
	readPanic           bool
}
