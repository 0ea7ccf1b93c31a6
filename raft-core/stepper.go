package raftcore

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Stepper drives one node's engine by hand: no goroutines, no clock. The
// caller decides when time passes (Tick), when messages arrive (Step), when
// the log writer's work is done (Persist) and when committed entries are
// applied (Apply). Driving several Steppers from one goroutine with a seeded
// scheduler replays a cluster's history exactly; the raft-core/sim simulator
// does that. Node runs the same engine with real goroutines.
//
// A Stepper stops, as a Node does, when raft panics after a read of the
// log failed or on finding one of its invariants broken: see Err. Any other
// panic propagates to the caller.
//
// A Stepper is not safe for concurrent use. Raft draws election timeouts from
// crypto/rand.Reader; a deterministic simulation replaces that reader.
type Stepper[C, R any] struct {
	e       *engine
	codec   Codec[C]
	out     StepperOutput
	pending []pendingCall // in submission order, so callbacks run deterministically
	err     error         // why the Stepper stopped (Err)
}

// pendingCall is a proposal or read whose callback runs once it resolves.
type pendingCall struct {
	prop   *proposal
	read   *readWaiter
	onProp func(proposalResult)
	onRead func(readResult)
}

// StepperOutput is the work a Stepper produced since the last Ready call.
// Each kind must be handled in order within its slice.
type StepperOutput struct {
	// Messages go to other nodes over the network (may be lost or reordered).
	Messages []*raftpb.Message
	// Snapshots are MsgSnap messages whose data must be streamed: read it
	// with OpenSnapshot and hand both to the receiver's ReceiveSnapshot, then
	// call ReportSnapshot on this Stepper.
	Snapshots []*raftpb.Message
	// Persist is the log writer's queue: pass it, in order, to Persist.
	Persist []*raftpb.Message
	// Apply is the applier's queue: pass each, in order, to Apply.
	Apply []*raftpb.Message
	// SnapshotWanted says raft needs a newer snapshot (its latest predates a
	// membership change, so a new member would reject it): call TakeSnapshot.
	SnapshotWanted bool
}

func (o *StepperOutput) send(msgs []*raftpb.Message)    { o.Messages = append(o.Messages, msgs...) }
func (o *StepperOutput) sendSnapshot(m *raftpb.Message) { o.Snapshots = append(o.Snapshots, m) }
func (o *StepperOutput) persist(m *raftpb.Message)      { o.Persist = append(o.Persist, m) }
func (o *StepperOutput) apply(m *raftpb.Message)        { o.Apply = append(o.Apply, m) }

// NewStepper opens a node like Start does (restoring its snapshot,
// bootstrapping when new) but starts nothing. cfg.Transport is used only for
// AddPeer and RemovePeer calls and may be a no-op. epoch names this
// incarnation's proposals: give each incarnation of a node a higher one than
// the last, with low 20 bits of its own (Start uses the clock in
// milliseconds above 20 random bits).
func NewStepper[C, R any](cfg Config, sm StateMachine[C, R], codec Codec[C], epoch uint64) (*Stepper[C, R], error) {
	if sm == nil || codec == nil {
		return nil, fmt.Errorf("%w: state machine and codec are required", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e, err := newEngine(cfg, typedMachine[C, R]{sm: sm, codec: codec}, epoch)
	if err != nil {
		return nil, err
	}
	s := &Stepper[C, R]{e: e, codec: codec}
	e.wantSnapshot = func() { s.out.SnapshotWanted = true }
	return s, nil
}

// ID returns the node's id.
func (s *Stepper[C, R]) ID() uint64 { return s.e.id }

// Err returns nil while the node runs, and the error that stopped it once it
// stopped, wrapping ErrStopped and the cause, as Node.Err does. Raft panics
// when a read of its log fails (LogStore.Entries, Term, FirstIndex or
// LastIndex return an error other than ErrCompacted or ErrUnavailable): the
// cause then wraps the store's error. It also panics when it finds one of its
// invariants broken ("raft invariant violated: …"). The Stepper recovers
// either panic, fails every waiting proposal and read with Err, and from
// then on drives raft no more: Tick, Step, ReportSnapshot,
// ReportUnreachable and TransferLeadership do nothing, Ready returns no
// work, and Propose, ProposeConfChange, ReadIndex, Deliver,
// ReceiveSnapshot, Persist, Apply and TakeSnapshot fail with Err. The
// node's durable state is what its LogStore and SnapshotStore hold; start
// it again with a new Stepper, as after a crash.
func (s *Stepper[C, R]) Err() error { return s.err }

// recoverRaft, deferred by every method that drives raft, stops the Stepper
// on a panic that Node turns into a stopped node (engine.raftFailure) and
// lets any other panic through.
func (s *Stepper[C, R]) recoverRaft() {
	p := recover()
	if p == nil {
		return
	}
	err := s.e.raftFailure(p)
	if err == nil {
		panic(p)
	}
	s.err = fmt.Errorf("%w: %w", ErrStopped, err)
	s.out = StepperOutput{}
	s.Fail(s.err)
}

// Tick advances the node's clock by one tick.
func (s *Stepper[C, R]) Tick() {
	if s.err != nil {
		return
	}
	defer s.recoverRaft()
	s.e.tick()
	s.dispatch()
}

// Step delivers a response returned by Persist or Apply, or a message from
// another node that the caller trusts (Deliver checks it first).
func (s *Stepper[C, R]) Step(m *raftpb.Message) {
	if s.err != nil {
		return
	}
	defer s.recoverRaft()
	s.e.step(m)
	s.dispatch()
}

// Deliver delivers a message from another node as a transport's Handler
// does: a message a peer may never send (a local type, a forged sender, a
// shape raft would panic on) is refused with an error and not stepped. A
// stopped node refuses every message with Err.
func (s *Stepper[C, R]) Deliver(m *raftpb.Message) error {
	if s.err != nil {
		return s.err
	}
	if err := s.e.checkRemote(m); err != nil {
		return err
	}
	s.Step(m)
	return nil
}

// Ready collects the work produced so far.
func (s *Stepper[C, R]) Ready() StepperOutput {
	if s.err != nil {
		return StepperOutput{}
	}
	defer s.recoverRaft()
	s.e.processReady(&s.out)
	s.dispatch()
	out := s.out
	s.out = StepperOutput{}
	return out
}

// Propose submits cmd; done is called, from a later Apply, with the result
// and index of its entry, or at once (or from Fail) with an error.
func (s *Stepper[C, R]) Propose(cmd C, done func(result R, index uint64, err error)) {
	payload, err := s.codec.Encode(cmd)
	if err == nil {
		err = s.err
	}
	if err != nil {
		var zero R
		done(zero, 0, err)
		return
	}
	defer s.recoverRaft()
	p := s.e.newCommand(payload)
	s.e.waiters.add(p)
	s.pending = append(s.pending, pendingCall{prop: p, onProp: func(r proposalResult) {
		res, _ := r.result.(R)
		done(res, r.index, r.err)
	}})
	s.e.proposeBatch([]*proposal{p})
	s.dispatch()
}

// ProposeConfChange submits a membership change (as Node's AddVoter,
// AddLearner, PromoteLearner and RemoveMember do, without their checks). It
// fails with a *NotLeaderError on a non-leader and with an error if raft
// refused it because another change is still being applied.
func (s *Stepper[C, R]) ProposeConfChange(typ raftpb.ConfChangeType, p Peer, done func(index uint64, err error)) {
	if s.err != nil {
		done(0, s.err)
		return
	}
	defer s.recoverRaft()
	var peerBytes []byte
	if typ != raftpb.ConfChangeRemoveNode {
		peerBytes, _ = p.MarshalBinary()
	}
	prop := s.e.newConfChange(typ, p.ID, peerBytes)
	s.e.waiters.add(prop)
	s.pending = append(s.pending, pendingCall{prop: prop, onProp: func(r proposalResult) { done(r.index, r.err) }})
	s.e.propose(prop)
	s.dispatch()
}

// dispatch runs the callbacks of resolved proposals and reads.
func (s *Stepper[C, R]) dispatch() {
	var fired []func()
	kept := s.pending[:0]
	for _, c := range s.pending {
		switch {
		case c.prop != nil:
			select {
			case r := <-c.prop.done:
				fired = append(fired, func() { c.onProp(r) })
				continue
			default:
			}
		case c.read != nil:
			select {
			case r := <-c.read.done:
				fired = append(fired, func() { c.onRead(r) })
				continue
			default:
			}
		}
		kept = append(kept, c)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	for _, fn := range fired {
		fn()
	}
}

// Pending returns how many proposals and reads wait for an outcome.
func (s *Stepper[C, R]) Pending() int { return len(s.pending) }

// ReadIndex asks for a linearizable read index; done runs (from a later
// Step, Persist or Apply) once the state machine has applied it.
func (s *Stepper[C, R]) ReadIndex(done func(index uint64, err error)) {
	if s.err != nil {
		done(0, s.err)
		return
	}
	defer s.recoverRaft()
	w := &readWaiter{done: make(chan readResult, 1)}
	s.pending = append(s.pending, pendingCall{read: w, onRead: func(r readResult) { done(r.index, r.err) }})
	s.e.readIndex([]*readWaiter{w})
	s.dispatch()
}

// ReadStale runs fn against the local state machine.
func (s *Stepper[C, R]) ReadStale(fn func()) {
	s.e.smMu.RLock()
	defer s.e.smMu.RUnlock()
	fn()
}

// Persist does the log writer's work for msgs (LogStore.Save, and the
// restore of a received snapshot) and returns the responses to deliver:
// those addressed to this node go to Step, the others to the network.
func (s *Stepper[C, R]) Persist(msgs []*raftpb.Message) ([]*raftpb.Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	resps, err := s.e.persist(msgs)
	s.dispatch()
	return resps, err
}

// Apply applies one MsgStorageApply and returns the responses to Step.
func (s *Stepper[C, R]) Apply(m *raftpb.Message) ([]*raftpb.Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	resps, err := s.e.applyCommitted(m)
	s.dispatch()
	return resps, err
}

// TakeSnapshot snapshots the state machine at its applied index.
func (s *Stepper[C, R]) TakeSnapshot() (SnapshotMeta, error) {
	if s.err != nil {
		return SnapshotMeta{}, s.err
	}
	return s.e.takeSnapshot(SnapshotManual)
}

// OpenSnapshot opens the data of the snapshot a MsgSnap names.
func (s *Stepper[C, R]) OpenSnapshot(m *raftpb.Message) (io.ReadCloser, error) {
	_, rc, err := s.e.ss.Open(m.GetSnapshot().GetMetadata().GetIndex())
	return rc, err
}

// ReceiveSnapshot stores a streamed snapshot, then steps its MsgSnap, as
// Node does for a snapshot its transport receives.
func (s *Stepper[C, R]) ReceiveSnapshot(m *raftpb.Message, body io.Reader) error {
	if s.err != nil {
		return s.err
	}
	if err := s.e.receiveSnapshot(m, body); err != nil {
		return err
	}
	s.Step(m)
	return nil
}

// ReportSnapshot tells raft whether streaming a snapshot to id succeeded.
func (s *Stepper[C, R]) ReportSnapshot(id uint64, ok bool) {
	if s.err != nil {
		return
	}
	defer s.recoverRaft()
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	s.e.rn.ReportSnapshot(id, status)
}

// ReportUnreachable tells raft that messages to id were lost.
func (s *Stepper[C, R]) ReportUnreachable(id uint64) {
	if s.err != nil {
		return
	}
	defer s.recoverRaft()
	s.e.rn.ReportUnreachable(id)
}

// TransferLeadership asks raft to hand leadership to id.
func (s *Stepper[C, R]) TransferLeadership(id uint64) {
	if s.err != nil {
		return
	}
	defer s.recoverRaft()
	s.e.rn.TransferLeader(id)
}

// Leader returns the leader this node knows of, or 0.
func (s *Stepper[C, R]) Leader() uint64 { return s.e.leader.Load() }

// LeaderActive is Status.LeaderActive: this node leads, or heard from its
// leader within the last election timeout.
func (s *Stepper[C, R]) LeaderActive() bool { return s.e.leaderActive(s.e.leader.Load()) }

// Role returns this node's role.
func (s *Stepper[C, R]) Role() Role { return Role(s.e.role.Load()) }

// Term returns this node's current term.
func (s *Stepper[C, R]) Term() uint64 { return s.e.rn.BasicStatus().HardState.GetTerm() }

// AppliedIndex returns the last applied index.
func (s *Stepper[C, R]) AppliedIndex() uint64 { return s.e.applied.Load() }

// Members returns the applied membership: voters and learners.
func (s *Stepper[C, R]) Members() (voters, learners []uint64) {
	cs := s.e.membership().confState
	return append([]uint64(nil), cs.GetVoters()...), append([]uint64(nil), cs.GetLearners()...)
}

// RaftMembers returns the configuration raft itself holds, which must
// always equal Members once the applier has caught up: a simulator checks it.
func (s *Stepper[C, R]) RaftMembers() (voters, learners []uint64) {
	cfg := s.e.rn.Status().Config
	voters = slices.Sorted(maps.Keys(cfg.Voters.IDs()))
	for id := range cfg.Learners {
		learners = append(learners, id)
	}
	for id := range cfg.LearnersNext {
		learners = append(learners, id)
	}
	slices.Sort(learners)
	return voters, learners
}

// RaftSnapshotIndex returns the index up to which raft took a
// configuration without the applier: the latest snapshot it took in from the
// network (the log writer then installs it), or the bootstrap entries.
func (s *Stepper[C, R]) RaftSnapshotIndex() uint64 { return s.e.raftSnap }

// Fail resolves every waiting proposal and read with err (a crash).
func (s *Stepper[C, R]) Fail(err error) {
	s.e.waiters.failAll(err)
	s.e.reads.failAll(err)
	s.e.failPendingReads(err)
	s.dispatch()
}

// Events returns a subscription to the node's events; it must be drained
// by the driver.
func (s *Stepper[C, R]) Events() <-chan Event { return s.e.events.subscribe(context.Background()) }

// EngineFault names a bug the engine once had. InjectFault puts it back into
// one Stepper, so that a simulator can show that its checks catch the bug.
// Never inject faults outside such a test.
type EngineFault string

const (
	// FaultReapplyMembership steps a received snapshot at once, even while
	// an older membership change waits for the applier, which then applies
	// that change to raft over the snapshot's configuration.
	FaultReapplyMembership EngineFault = "membership-reapply"
	// FaultReuseReadContexts numbers read index requests from 1 in every
	// incarnation, so a late answer to the previous incarnation's request
	// serves a new one with an old index.
	FaultReuseReadContexts EngineFault = "read-ctx-reuse"
	// FaultLeaseDuringTransfer keeps serving lease reads after the leader
	// started a leadership transfer, whose votes the lease does not stop.
	FaultLeaseDuringTransfer EngineFault = "lease-during-transfer"
	// FaultReadPanic forgets, when raft panics, that a read of the log had
	// failed, as the engine did before such a read stopped the node: raft's
	// panic, which in most places carries the store's error itself, then
	// escapes, and would crash a Node's process.
	// It acts on a running node; a start still fails cleanly.
	FaultReadPanic EngineFault = "read-panic"
)

// EngineFaults lists every fault InjectFault knows.
var EngineFaults = []EngineFault{FaultReapplyMembership, FaultReuseReadContexts, FaultLeaseDuringTransfer, FaultReadPanic}

// InjectFault re-introduces f into this Stepper's engine. Call it right after
// NewStepper.
func (s *Stepper[C, R]) InjectFault(f EngineFault) error {
	switch f {
	case FaultReapplyMembership:
		s.e.faults.reapplyMembership = true
	case FaultReuseReadContexts:
		s.e.readEpoch = 0
	case FaultLeaseDuringTransfer:
		s.e.faults.leaseDuringTransfer = true
	case FaultReadPanic:
		s.e.faults.readPanic = true
	default:
		return fmt.Errorf("%w: unknown engine fault %q", ErrInvalidConfig, f)
	}
	return nil
}
