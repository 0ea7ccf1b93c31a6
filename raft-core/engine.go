package raftcore

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// machine is the type-erased view of the user's StateMachine and Codec.
type machine interface {
	apply(index uint64, payload []byte) (any, error)
	// check decodes a command without applying it.
	check(payload []byte) error
	snapshot(w io.Writer) error
	restore(r io.Reader) error
}

// engine is the node's logic without its goroutines: the raft state machine
// (RawNode) and the handling of its output. The runtime (runtime.go) drives it
// with real goroutines and a wall clock; a simulator can drive the same
// methods on a virtual clock with explicit delivery.
//
// Three roles touch it, each single-threaded:
//   - the raft role: tick, step, propose, processReady (holds raftMu);
//   - the log-writer role: persist (LogStore.Save, snapshot restore);
//   - the apply role: applyCommitted, snapshots.
type engine struct {
	cfg Config
	id  uint64
	ls  LogStore
	ss  SnapshotStore
	tr  Transport
	sm  machine
	obs Observer

	raftMu sync.Mutex
	rn     *raft.RawNode
	// readFailed is the last read of the log that failed unexpectedly
	// (raftStorage.noteRead). raftMu guards it.
	readFailed error
	ticks      uint64
	// leaderHeard is ticks when this node last stepped a message only a
	// leader sends (append, heartbeat, snapshot) of its current term.
	leaderHeard uint64
	// soft state, written under raftMu, read atomically by anyone
	leader atomic.Uint64
	term   atomic.Uint64
	role   atomic.Int64
	commit atomic.Uint64

	// leaderChanged is closed and replaced whenever leader or role changes.
	stateMu       sync.Mutex
	leaderChanged chan struct{}

	// read requests waiting for a ReadState, by the number of their round
	// (raft role). A round's request context holds readEpoch, then that
	// number, so a late answer to a round of an earlier incarnation never
	// matches a round of this one: epochs differ in their random low bits
	// even when the clock went back, where numbers counted up from the
	// epoch could repeat an earlier incarnation's.
	pendingReads map[uint64]*readBatch
	nextReadCtx  uint64
	readEpoch    uint64
	// reads that arrived while a read index round was in flight; they go
	// together in the next round
	queuedReads []*readWaiter

	// smMu excludes Apply and Restore from reads of the state machine.
	smMu sync.RWMutex
	// applied state, written under smMu by the apply and log-writer roles.
	applied     atomic.Uint64
	appliedTerm uint64
	members     *membership // replaced, never mutated, once published
	proposals   *appliedProposals
	membersMu   sync.RWMutex
	lastSnap    atomic.Uint64
	removedSelf atomic.Bool

	waiters *waiters
	reads   *readTracker
	events  *eventBus

	epoch       atomic.Uint64 // of proposals; see dedup.go
	proposalSeq atomic.Uint64

	// membership changes proposed but not yet seen appended (raft role)
	ccProposed []*proposal
	// command proposals handed to raft, oldest first, for reproposeLost
	sent []sentProposal
	// index of the first entry this node appended as leader of termStartTerm
	termStart, termStartTerm uint64

	// Raft role. confPending is the index of the latest membership change
	// handed to the applier; heldSnap is a MsgSnap waiting for the applier to
	// reach it (see holdSnapshot). heldReads are followers' read index
	// requests waiting for this leader to commit an entry of its term.
	confPending uint64
	lastIndex   atomic.Uint64 // of raft's log, as handed to the log writer
	raftSnap    uint64        // raft's configuration is ahead of the applier up to here: a restored snapshot, the bootstrap
	heldSnap    *raftpb.Message
	heldReads   []*raftpb.Message
	// Lease reads: reads may be served locally while lease holds (written
	// by the raft role, read by any goroutine); a leadership transfer
	// started in transferTerm voids the lease for the rest of that term.
	lease        atomic.Pointer[leaseGrant]
	transferTerm uint64
	// restarted: the node started with state, so it may have acknowledged
	// a leader's lease before (see refuseVoteInLease).
	restarted bool
	// faults re-introduces fixed bugs, for the simulator only.
	faults engineFaults

	// Log-writer role: the term and vote of the last HardState saved, and a
	// HardState that changed only its commit index and is not saved yet.
	savedTerm, savedVote uint64
	unsavedHS            *raftpb.HardState
	// recently saved entries, read by raft through raftStorage
	entries *entryCache

	// wantSnapshot asks the apply role for a snapshot soon; it never blocks.
	wantSnapshot func()
}

// proposal is one command or conf change waiting for its entry to apply.
type proposal struct {
	id    uint64 // sequence; the waiters' key
	epoch uint64
	data  []byte
	cc    *raftpb.ConfChange
	done  chan proposalResult
	stage func(Stage, uint64) // reports the proposal's stages; nil when nobody asked
}

type proposalResult struct {
	index  uint64
	result any
	err    error
}

func (p *proposal) resolve(r proposalResult) {
	select {
	case p.done <- r:
	default:
	}
}

// waiters holds proposals by id until their entries apply.
type waiters struct {
	mu sync.Mutex
	m  map[uint64]*proposal
}

func (w *waiters) add(p *proposal) {
	w.mu.Lock()
	w.m[p.id] = p
	w.mu.Unlock()
}

func (w *waiters) remove(id uint64) *proposal {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.m[id]
	delete(w.m, id)
	return p
}

func (w *waiters) failAll(err error) {
	w.mu.Lock()
	all := w.m
	w.m = map[uint64]*proposal{}
	w.mu.Unlock()
	for _, p := range all {
		p.resolve(proposalResult{err: err})
	}
}

func (w *waiters) has(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.m[id]
	return ok
}

// readWaiter is one linearizable read waiting for its read index to apply.
type readWaiter struct {
	done chan readResult
	// abandoned is set when the caller gave up; the waiter is then dropped
	// instead of being retried.
	abandoned atomic.Bool
}

type readResult struct {
	index uint64
	err   error
}

type readBatch struct {
	waiters []*readWaiter
	issued  uint64    // tick
	at      time.Time // wall clock, for the lease
}

// readTracker releases reads once the applied index reaches their read index.
type readTracker struct {
	mu      sync.Mutex
	pending []indexedReads // sorted by index
}

type indexedReads struct {
	index   uint64
	waiters []*readWaiter
}

func (t *readTracker) wait(index, applied uint64, ws []*readWaiter) {
	if index <= applied {
		release(ws, index, nil)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i, _ := slices.BinarySearchFunc(t.pending, index, func(r indexedReads, idx uint64) int {
		return cmp.Compare(r.index, idx)
	})
	if i < len(t.pending) && t.pending[i].index == index {
		t.pending[i].waiters = append(t.pending[i].waiters, ws...)
		return
	}
	t.pending = slices.Insert(t.pending, i, indexedReads{index: index, waiters: ws})
}

func (t *readTracker) advance(applied uint64) {
	t.mu.Lock()
	n := 0
	for n < len(t.pending) && t.pending[n].index <= applied {
		n++
	}
	ready := slices.Clone(t.pending[:n])
	t.pending = t.pending[n:]
	t.mu.Unlock()
	for _, r := range ready {
		release(r.waiters, r.index, nil)
	}
}

func (t *readTracker) failAll(err error) {
	t.mu.Lock()
	all := t.pending
	t.pending = nil
	t.mu.Unlock()
	for _, r := range all {
		release(r.waiters, 0, err)
	}
}

func release(ws []*readWaiter, index uint64, err error) {
	for _, w := range ws {
		select {
		case w.done <- readResult{index: index, err: err}:
		default:
		}
	}
}

// newEngine opens the node's durable state: it restores the latest snapshot
// into the state machine, creates the RawNode (bootstrapping a new cluster
// when the log is empty) and registers known peers with the transport.
func newEngine(cfg Config, sm machine, epoch uint64) (*engine, error) {
	e := &engine{
		cfg:           cfg,
		id:            cfg.NodeID,
		ls:            cfg.LogStore,
		ss:            cfg.SnapshotStore,
		tr:            cfg.Transport,
		sm:            sm,
		obs:           cfg.Observer,
		leaderChanged: make(chan struct{}),
		pendingReads:  map[uint64]*readBatch{},
		members:       newMembership(),
		proposals:     newAppliedProposals(engineDedupWindow()),
		entries:       newEntryCache(uint64(max(cfg.EntryCacheSize, 0))),
		waiters:       &waiters{m: map[uint64]*proposal{}},
		reads:         &readTracker{},
		events:        newEventBus(),
		readEpoch:     epoch,
	}
	e.epoch.Store(epoch)
	e.role.Store(int64(RoleFollower))

	snap, err := e.ls.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raftcore: read snapshot metadata: %w", err)
	}
	if idx := snap.GetMetadata().GetIndex(); idx > 0 {
		if err := e.restoreSnapshot(snap.GetMetadata()); err != nil {
			return nil, err
		}
	}
	if err := e.removeOrphanSnapshots(snap.GetMetadata().GetIndex()); err != nil {
		return nil, err
	}
	hs, _, err := e.ls.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raftcore: read initial state: %w", err)
	}
	e.savedTerm, e.savedVote = hs.GetTerm(), hs.GetVote()
	last, err := e.ls.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raftcore: read last index: %w", err)
	}
	rc := &raft.Config{
		ID:                        cfg.NodeID,
		ElectionTick:              cfg.electionTicks(),
		HeartbeatTick:             cfg.heartbeatTicks(),
		Storage:                   raftStorage{LogStore: e.ls, e: e},
		Applied:                   e.applied.Load(),
		AsyncStorageWrites:        true,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:  cfg.MaxApplyingSize,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedSize,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   !cfg.DisablePreVote,
		// Lease reads are the engine's (lease.go): raft's own lease counts
		// ticks, which a paused process loses, and ignores transfers.
		ReadOnlyOption:    raft.ReadOnlySafe,
		Logger:            raftLogger{cfg.Logger},
		StepDownOnRemoval: true,
	}
	rn, err := e.newRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raftcore: start raft: %w", err)
	}
	e.rn = rn
	e.lastIndex.Store(max(last, snap.GetMetadata().GetIndex()))
	fresh := last == 0 && raft.IsEmptyHardState(hs) && e.applied.Load() == 0
	e.restarted = !fresh
	if fresh && !cfg.Join && len(cfg.Peers) > 0 {
		if err := e.bootstrap(); err != nil {
			return nil, err
		}
	}
	// cfg.Peers describe the cluster only for a node without state (one that
	// bootstraps or joins). Once the node has state, its membership comes
	// from the snapshot and the log alone: a member removed since is not in
	// it and must not be trusted again because an old peer list names it.
	peers := e.members.peers
	if fresh {
		peers = map[uint64]Peer{}
		for _, p := range cfg.Peers {
			peers[p.ID] = p
		}
	}
	for _, p := range peers {
		if p.ID != e.id {
			if err := e.tr.AddPeer(p); err != nil {
				return nil, fmt.Errorf("raftcore: add peer %v: %w", p, err)
			}
		}
	}
	return e, nil
}

// raftStorage is the LogStore as raft sees it. Its Snapshot refuses (for
// now) a snapshot whose membership is older than the applied one: a member
// added after it was taken would reject it, as it is not in its ConfState.
// It asks the applier for a fresh snapshot instead, and raft retries.
type raftStorage struct {
	LogStore
	e *engine
}

// InitialState reports a commit index of at least the snapshot's index. The
// applier may snapshot entries whose commit the log writer has not saved yet
// (raft hands committed entries to both at once); after a crash the durable
// commit can then lag the snapshot. A snapshot only holds committed entries,
// so raising the commit to its index is safe, and raft requires
// Applied <= commit.
func (s raftStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, cs, err := s.LogStore.InitialState()
	if err != nil {
		return hs, cs, err
	}
	snap, err := s.LogStore.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	if idx := snap.GetMetadata().GetIndex(); idx > hs.GetCommit() {
		hs = &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(idx)}
	}
	return hs, cs, nil
}

// Entries serves recently saved entries from memory, the rest from the
// LogStore.
func (s raftStorage) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if ents, ok := s.e.entries.get(lo, hi, maxSize); ok {
		return ents, nil
	}
	ents, err := s.LogStore.Entries(lo, hi, maxSize)
	return ents, s.noteRead(err)
}

func (s raftStorage) Term(i uint64) (uint64, error) {
	term, err := s.LogStore.Term(i)
	return term, s.noteRead(err)
}

func (s raftStorage) FirstIndex() (uint64, error) {
	i, err := s.LogStore.FirstIndex()
	return i, s.noteRead(err)
}

func (s raftStorage) LastIndex() (uint64, error) {
	i, err := s.LogStore.LastIndex()
	return i, s.noteRead(err)
}

// noteRead records a read of the log that failed other than in a way raft
// expects (ErrCompacted, ErrUnavailable). Raft panics on such an error
// wherever it reads its log, sometimes with the error only as text; the
// panic is recovered (raftFailure) and stops the node with the recorded
// error, as a failed Save does, instead of taking the process down.
func (s raftStorage) noteRead(err error) error {
	if err != nil && err != raft.ErrCompacted && err != raft.ErrUnavailable {
		s.e.readFailed = err
	}
	return err
}

// raftFailure is the error that stops the node for p, a panic recovered
// from raft under raftMu (or by a Stepper), if p follows a failed read of the
// log or is one raft raises for a broken invariant; nil for any other panic,
// a bug to crash on.
func (e *engine) raftFailure(p any) error {
	if err := e.readFailure(); err != nil {
		return err
	}
	if msg, ok := p.(raftPanic); ok {
		return fmt.Errorf("raft invariant violated: %s", string(msg))
	}
	return nil
}

// readFailure is the error that stops the node once a read of the log
// failed (noteRead), or nil.
func (e *engine) readFailure() error {
	if e.readFailed == nil || e.faults.readPanic {
		return nil
	}
	return fmt.Errorf("raftcore: reading the log store: %w", e.readFailed)
}

// newRawNode is raft.NewRawNode, whose reads of the log may panic like
// any other (see raftFailure).
func (e *engine) newRawNode(rc *raft.Config) (rn *raft.RawNode, err error) {
	defer func() {
		if p := recover(); p != nil {
			if err = e.raftFailure(p); err == nil {
				panic(p)
			}
		}
	}()
	return raft.NewRawNode(rc)
}

func (s raftStorage) Snapshot() (*raftpb.Snapshot, error) {
	snap, err := s.LogStore.Snapshot()
	if err != nil || raft.IsEmptySnap(snap) {
		return snap, err
	}
	if snap.GetMetadata().GetConfState().Equivalent(s.e.membership().confState) != nil {
		if s.e.wantSnapshot != nil {
			s.e.wantSnapshot()
		}
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return snap, nil
}

// bootstrap writes the initial membership as the first conf change entries.
// Every bootstrapping node must produce byte-identical entries, so peers are
// sorted and encoded deterministically.
func (e *engine) bootstrap() error {
	if !slices.ContainsFunc(e.cfg.Peers, func(p Peer) bool { return p.ID == e.id }) {
		return fmt.Errorf("%w: bootstrapping a new cluster: Peers must include this node (%d)", ErrInvalidConfig, e.id)
	}
	peers := slices.Clone(e.cfg.Peers)
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	rps := make([]raft.Peer, len(peers))
	for i, p := range peers {
		pb, _ := p.MarshalBinary()
		rps[i] = raft.Peer{ID: p.ID, Context: appendEnvelope(nil, 0, proposalID{}, pb)}
	}
	if err := e.rn.Bootstrap(rps); err != nil {
		return fmt.Errorf("raftcore: bootstrap: %w", err)
	}
	// Raft took the bootstrap configuration at once, like a snapshot's.
	e.raftSnap = uint64(len(rps))
	return nil
}

// --- raft role --------------------------------------------------------------

func (e *engine) tick() {
	e.ticks++
	e.rn.Tick()
	e.releaseHeld()
	e.retryStaleReads()
	e.reproposeLost()
}

// Raft does not retransmit proposals: a follower's forward lost by the
// network, or a deposed leader's uncommitted entry, is gone and its caller
// would wait for its context. So a proposal still waiting after an election
// timeout is proposed again, with the same id: appliedProposals applies the
// first copy that commits and refuses the others, however late they come
// (dedup.go). Only the most recent maxReproposed proposals are eligible,
// which bounds the work, not correctness.
const maxReproposed = 1024

type sentProposal struct {
	p    *proposal
	tick uint64
}

// trackSent remembers command proposals handed to raft (raft role).
func (e *engine) trackSent(props []*proposal) {
	for _, p := range props {
		e.sent = append(e.sent, sentProposal{p: p, tick: e.ticks})
	}
	if over := len(e.sent) - maxReproposed; over > 0 {
		clear(e.sent[:over])
		e.sent = append(e.sent[:0], e.sent[over:]...)
	}
}

// reproposeLost proposes again what has waited an election timeout.
func (e *engine) reproposeLost() {
	timeout := uint64(e.cfg.electionTicks())
	if len(e.sent) == 0 || e.ticks%timeout != 0 || e.leader.Load() == 0 {
		return
	}
	var ents []*raftpb.Entry
	kept := e.sent[:0]
	for _, s := range e.sent {
		if !e.waiters.has(s.p.id) {
			continue // applied, failed or abandoned
		}
		if e.ticks-s.tick >= timeout {
			ents = append(ents, &raftpb.Entry{Data: s.p.data})
			s.tick = e.ticks
		}
		kept = append(kept, s)
	}
	clear(e.sent[len(kept):])
	e.sent = kept
	if len(ents) > 0 {
		// A refusal (no leader, transfer in progress) is retried next time.
		_ = e.rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(e.id), Entries: ents})
	}
}

func (e *engine) step(m *raftpb.Message) {
	if raft.IsLocalMsg(m.GetType()) && !raft.IsLocalMsgTarget(m.GetFrom()) && m.GetType() != raftpb.MsgStorageAppendResp && m.GetType() != raftpb.MsgStorageApplyResp {
		return // peers may not inject local messages
	}
	if !e.plausible(m) {
		return
	}
	switch m.GetType() {
	case raftpb.MsgSnap:
		if e.holdSnapshot(m) {
			return
		}
	case raftpb.MsgReadIndex:
		if m.GetFrom() != e.id && e.holdRead(m) {
			return
		}
	case raftpb.MsgVote, raftpb.MsgPreVote:
		if e.refuseVoteInLease(m) {
			return
		}
	}
	e.stepRaft(m)
	switch m.GetType() {
	case raftpb.MsgStorageApplyResp:
		e.releaseHeld()
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap:
		if m.GetTerm() >= e.term.Load() { // an older term's leader is ignored by raft
			e.leaderHeard = e.ticks
		}
	}
}

// leaderActive reports whether this node leads, or heard from its leader
// within the last election timeout: whether a proposal made here now
// reaches a live leader. With pre-vote, a follower keeps naming a leader
// that died until a new one is elected; this says when not to trust it.
// Called under raftMu.
func (e *engine) leaderActive(lead uint64) bool {
	switch lead {
	case 0:
		return false
	case e.id:
		return true
	}
	return e.ticks-e.leaderHeard < uint64(e.cfg.electionTicks())
}

func (e *engine) stepRaft(m *raftpb.Message) {
	if err := e.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) && !errors.Is(err, raft.ErrStepLocalMsg) {
		e.cfg.Logger.Debug("raft step", "type", m.GetType().String(), "from", m.GetFrom(), "err", err)
	}
}

// holdSnapshot keeps a MsgSnap from raft while a membership change handed to
// the applier is not applied yet. Raft replaces its configuration with the
// snapshot's the moment it steps a MsgSnap; the applier would then push the
// older change into raft on top of it (applyToRaft), and raft's membership
// would no longer be the cluster's. etcd's server waits for pending
// membership applies in the same way. The held message is stepped once the
// applier caught up (releaseHeld); only the newest is kept.
func (e *engine) holdSnapshot(m *raftpb.Message) bool {
	if e.faults.reapplyMembership || e.applied.Load() >= e.confPending {
		return false
	}
	if e.heldSnap == nil || m.GetSnapshot().GetMetadata().GetIndex() >= e.heldSnap.GetSnapshot().GetMetadata().GetIndex() {
		e.heldSnap = m
	}
	return true
}

// holdRead keeps a follower's read index request on a leader that has not
// committed an entry of its term. Raft waits for that itself, except with a
// single voter, where it answers at once with a commit index that may lag
// writes acknowledged before a restart (etcd-io/raft#105); reads made on the
// leader itself are corrected in readStateReady instead.
func (e *engine) holdRead(m *raftpb.Message) bool {
	if Role(e.role.Load()) != RoleLeader || e.committedInTerm() {
		return false
	}
	if len(e.heldReads) < maxHeldReads {
		e.heldReads = append(e.heldReads, m)
	} // else dropped: the follower asks again after an election timeout
	return true
}

const maxHeldReads = 4096

// committedInTerm reports whether this leader has committed the first entry
// it appended in its current term.
func (e *engine) committedInTerm() bool {
	return e.termStartTerm == e.term.Load() && e.commit.Load() >= e.termStart
}

// releaseHeld steps held messages whose wait is over.
func (e *engine) releaseHeld() {
	if m := e.heldSnap; m != nil && e.applied.Load() >= e.confPending {
		e.heldSnap = nil
		e.stepRaft(m)
	}
	if len(e.heldReads) > 0 && (Role(e.role.Load()) != RoleLeader || e.committedInTerm()) {
		held := e.heldReads
		e.heldReads = nil
		for _, m := range held {
			e.stepRaft(m)
		}
	}
}

// propose hands one proposal to raft. A refusal resolves it at once.
//
// Membership changes are proposed on the leader only: a leader with a change
// still being applied silently turns a new one into an empty entry, so the
// engine checks, once raft's output is processed, that the change was really
// appended (see checkConfChanges) and reports errConfChangeRefused otherwise.
func (e *engine) propose(p *proposal) {
	var err error
	if p.cc != nil {
		if st := e.rn.BasicStatus(); st.RaftState != raft.StateLeader {
			e.waiters.remove(p.id)
			p.resolve(proposalResult{err: e.notLeader(st.Lead)})
			return
		}
		err = e.rn.ProposeConfChange(p.cc)
		if err == nil {
			e.ccProposed = append(e.ccProposed, p)
		}
	} else {
		err = e.rn.Propose(p.data)
	}
	if err != nil {
		e.waiters.remove(p.id)
		if errors.Is(err, raft.ErrProposalDropped) {
			err = e.dropError()
		}
		p.resolve(proposalResult{err: err})
	}
}

// errConfChangeRefused: raft refused a membership change because another one
// is still being applied. Node retries it.
var errConfChangeRefused = errors.New("raftcore: membership change refused while another applies")

func (e *engine) notLeader(lead uint64) error {
	err := &NotLeaderError{LeaderID: lead}
	if p, ok := e.membership().peers[lead]; ok {
		err.LeaderAddr = p.Addr
	}
	return err
}

// checkConfChanges resolves membership changes proposed since the last call
// that raft did not append: it appends a change as an EntryConfChange at
// once on the leader, so one missing from the persisted entries was refused.
func (e *engine) checkConfChanges(appended []*raftpb.Entry) {
	if len(e.ccProposed) == 0 {
		return
	}
	for _, ent := range appended {
		if ent.GetType() != raftpb.EntryConfChange {
			continue
		}
		var cc raftpb.ConfChange
		if proto.Unmarshal(ent.GetData(), &cc) != nil {
			continue
		}
		if origin, id, _, err := parseEnvelope(cc.GetContext()); err == nil && origin == e.id {
			e.ccProposed = slices.DeleteFunc(e.ccProposed, func(p *proposal) bool { return p.id == id.seq && p.epoch == id.epoch })
		}
	}
	for _, p := range e.ccProposed {
		if e.waiters.remove(p.id) != nil {
			p.resolve(proposalResult{err: errConfChangeRefused})
		}
	}
	e.ccProposed = e.ccProposed[:0]
}

// proposeBatch hands many command proposals to raft as one MsgProp, so the
// leader appends them with one append and one broadcast instead of one per
// command. Membership changes in the batch go one by one.
func (e *engine) proposeBatch(props []*proposal) {
	ents := make([]*raftpb.Entry, 0, len(props))
	cmds := props[:0:0]
	for _, p := range props {
		if p.cc != nil {
			e.propose(p)
			continue
		}
		ents = append(ents, &raftpb.Entry{Data: p.data})
		cmds = append(cmds, p)
	}
	if len(ents) == 0 {
		return
	}
	err := e.rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(e.id), Entries: ents})
	if err == nil {
		e.trackSent(cmds)
		return
	}
	if errors.Is(err, raft.ErrProposalDropped) {
		err = e.dropError()
	}
	for _, p := range cmds {
		e.waiters.remove(p.id)
		p.resolve(proposalResult{err: err})
	}
}

func (e *engine) dropError() error {
	if e.leader.Load() == 0 {
		return fmt.Errorf("%w: no leader", ErrProposalDropped)
	}
	return ErrProposalDropped
}

// readIndex asks raft for one read index covering all of ws. While a round
// is in flight, later reads wait and share the next round: each round costs
// a heartbeat to every follower and their answers, so under load one round
// serves every read that arrived during the previous one (as etcd does),
// instead of one round per batch of arrivals.
func (e *engine) readIndex(ws []*readWaiter) {
	if len(ws) == 0 {
		return
	}
	if e.leaseRead(ws) {
		return
	}
	if len(e.pendingReads) > 0 {
		if len(e.queuedReads)+len(ws) > maxQueuedReads {
			// A round stuck without a leader: keep memory bounded.
			e.queuedReads = slices.DeleteFunc(e.queuedReads, func(w *readWaiter) bool { return w.abandoned.Load() })
			if len(e.queuedReads)+len(ws) > maxQueuedReads {
				release(ws, 0, ErrBusy)
				return
			}
		}
		e.queuedReads = append(e.queuedReads, ws...)
		return
	}
	e.issueReadIndex(ws)
}

// maxQueuedReads bounds the reads waiting for the next read index round.
const maxQueuedReads = 1 << 16

func (e *engine) issueReadIndex(ws []*readWaiter) {
	e.nextReadCtx++
	rctx := e.nextReadCtx
	var at time.Time
	if e.cfg.LeaseReads {
		at = e.cfg.Now()
	}
	e.pendingReads[rctx] = &readBatch{waiters: ws, issued: e.ticks, at: at}
	e.rn.ReadIndex(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, e.readEpoch), rctx))
}

// issueQueuedReads starts the next round for the reads that waited, once no
// round is in flight.
func (e *engine) issueQueuedReads() {
	if len(e.pendingReads) > 0 || len(e.queuedReads) == 0 {
		return
	}
	ws := e.queuedReads
	e.queuedReads = nil
	e.issueReadIndex(ws)
}

// failPendingReads resolves reads still waiting for raft's answer.
func (e *engine) failPendingReads(err error) {
	for _, rctx := range slices.Sorted(maps.Keys(e.pendingReads)) {
		release(e.pendingReads[rctx].waiters, 0, err)
		delete(e.pendingReads, rctx)
	}
	release(e.queuedReads, 0, err)
	e.queuedReads = nil
}

// retryStaleReads re-asks raft for read indexes that got no answer within an
// election timeout: raft drops ReadIndex requests when there is no leader or
// the leader changed, and says nothing. Reads queued behind them join the
// retry.
func (e *engine) retryStaleReads() {
	timeout := uint64(e.cfg.electionTicks())
	var retry []*readWaiter
	// Sorted, so that a simulation replays the same request order.
	for _, rctx := range slices.Sorted(maps.Keys(e.pendingReads)) {
		if b := e.pendingReads[rctx]; e.ticks-b.issued >= timeout {
			delete(e.pendingReads, rctx)
			retry = append(retry, b.waiters...)
		}
	}
	if retry == nil {
		return
	}
	retry = append(retry, e.queuedReads...)
	e.queuedReads = nil
	e.readIndex(slices.DeleteFunc(retry, func(w *readWaiter) bool { return w.abandoned.Load() }))
}

// output receives what processReady produces; the runtime and simulators
// route it.
type output interface {
	// send hands messages to the network (never MsgSnap).
	send(msgs []*raftpb.Message)
	// sendSnapshot streams the snapshot named by a MsgSnap.
	sendSnapshot(m *raftpb.Message)
	// persist queues a MsgStorageAppend for the log writer, in order.
	persist(m *raftpb.Message)
	// apply queues a MsgStorageApply for the applier, in order.
	apply(m *raftpb.Message)
}

// processReady drains raft's Ready and routes it to out.
func (e *engine) processReady(out output) {
	for {
		e.releaseHeld()
		if !e.rn.HasReady() {
			break
		}
		e.noteTransfer()
		rd := e.rn.Ready()
		if rd.SoftState != nil || rd.HardState != nil {
			e.observeState(rd.SoftState, rd.HardState)
		}
		e.noteTermStart(rd.Messages)
		for _, rs := range rd.ReadStates {
			e.readStateReady(rs)
		}
		if len(rd.ReadStates) > 0 {
			e.issueQueuedReads()
		}
		var net []*raftpb.Message
		for _, m := range rd.Messages {
			switch {
			case m.GetTo() == raft.LocalAppendThread:
				if snap := m.GetSnapshot(); !raft.IsEmptySnap(snap) {
					e.raftSnap = snap.GetMetadata().GetIndex()
					e.lastIndex.Store(e.raftSnap)
				}
				if ents := m.GetEntries(); len(ents) > 0 {
					e.lastIndex.Store(ents[len(ents)-1].GetIndex())
				}
				e.checkConfChanges(m.GetEntries())
				out.persist(m)
			case m.GetTo() == raft.LocalApplyThread:
				for _, ent := range m.GetEntries() {
					if ent.GetType() != raftpb.EntryNormal {
						e.confPending = max(e.confPending, ent.GetIndex())
					}
				}
				out.apply(m)
			case m.GetType() == raftpb.MsgSnap:
				out.sendSnapshot(m)
			default:
				net = append(net, m)
			}
		}
		if len(net) > 0 {
			out.send(net)
		}
	}
	e.checkConfChanges(nil)
}

// noteTermStart records the index of the first entry this node appended as
// leader of its current term.
func (e *engine) noteTermStart(msgs []*raftpb.Message) {
	term := e.term.Load()
	if e.termStartTerm == term || Role(e.role.Load()) != RoleLeader {
		return
	}
	for _, m := range msgs {
		if m.GetTo() != raft.LocalAppendThread {
			continue
		}
		for _, ent := range m.GetEntries() {
			if ent.GetTerm() == term {
				e.termStart, e.termStartTerm = ent.GetIndex(), term
				return
			}
		}
	}
}

func (e *engine) readStateReady(rs raft.ReadState) {
	if len(rs.RequestCtx) != 16 || binary.BigEndian.Uint64(rs.RequestCtx) != e.readEpoch {
		return // another incarnation's round
	}
	rctx := binary.BigEndian.Uint64(rs.RequestCtx[8:])
	b, ok := e.pendingReads[rctx]
	if !ok {
		return
	}
	delete(e.pendingReads, rctx)
	index := rs.Index
	// With a single voter, raft answers a read index with its commit index
	// at once, even before the leader committed an entry of its term; after
	// a restart that index can lag writes acknowledged before the crash
	// (etcd-io/raft#105). Waiting for the term's first entry closes the gap.
	if Role(e.role.Load()) == RoleLeader && e.termStartTerm == e.term.Load() {
		index = max(index, e.termStart)
		e.extendLease(b.at)
	}
	e.waitApplied(index, b.waiters)
}

func (e *engine) observeState(ss *raft.SoftState, hs *raftpb.HardState) {
	if hs != nil {
		if hs.GetTerm() > e.term.Load() {
			e.term.Store(hs.GetTerm())
			e.events.publish(Event{Type: EventTermChanged, NodeID: e.id, Term: hs.GetTerm()})
		}
		if hs.GetCommit() > e.commit.Load() {
			e.commit.Store(hs.GetCommit())
		}
	}
	if ss == nil {
		return
	}
	changed := false
	if ss.Lead != e.leader.Load() {
		e.leader.Store(ss.Lead)
		changed = true
		if ss.Lead != raft.None {
			e.events.publish(Event{Type: EventLeaderElected, NodeID: e.id, Leader: ss.Lead, Term: e.term.Load()})
		}
	}
	role := roleOf(ss.RaftState)
	if role == RoleFollower && e.membership().isLearner(e.id) {
		role = RoleLearner
	}
	if Role(e.role.Load()) != role {
		e.role.Store(int64(role))
		changed = true
		e.events.publish(Event{Type: EventRoleChanged, NodeID: e.id, Role: role, Term: e.term.Load()})
	}
	if changed {
		e.notifyStateChange()
	}
}

func (e *engine) notifyStateChange() {
	e.stateMu.Lock()
	close(e.leaderChanged)
	e.leaderChanged = make(chan struct{})
	e.stateMu.Unlock()
}

func (e *engine) stateChanged() <-chan struct{} {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	return e.leaderChanged
}

func roleOf(s raft.StateType) Role {
	switch s {
	case raft.StateLeader:
		return RoleLeader
	case raft.StateCandidate:
		return RoleCandidate
	case raft.StatePreCandidate:
		return RolePreCandidate
	}
	return RoleFollower
}

// --- log-writer role --------------------------------------------------------

// persist makes a batch of MsgStorageAppend messages durable with one
// LogStore.Save per run of messages without a snapshot (group commit), then
// returns the responses raft attached to them, which may be delivered only
// now. A snapshot in a message is restored into the state machine before its
// responses are released.
func (e *engine) persist(msgs []*raftpb.Message) ([]*raftpb.Message, error) {
	var resps []*raftpb.Message
	for len(msgs) > 0 {
		n := 1
		if raft.IsEmptySnap(msgs[0].GetSnapshot()) {
			for n < len(msgs) && raft.IsEmptySnap(msgs[n].GetSnapshot()) {
				n++
			}
		}
		if err := e.save(msgs[:n]); err != nil {
			return nil, err
		}
		if snap := msgs[0].GetSnapshot(); !raft.IsEmptySnap(snap) {
			if err := e.installSnapshot(snap.GetMetadata()); err != nil {
				return nil, err
			}
		}
		for _, m := range msgs[:n] {
			resps = append(resps, m.GetResponses()...)
		}
		msgs = msgs[n:]
	}
	return resps, nil
}

// save merges consecutive appends (a later append replaces the suffix it
// overlaps) and the latest HardState into one Save.
func (e *engine) save(msgs []*raftpb.Message) error {
	var ents []*raftpb.Entry
	var hs *raftpb.HardState
	for _, m := range msgs {
		if m.Term != nil || m.Vote != nil || m.Commit != nil {
			hs = &raftpb.HardState{Term: new(m.GetTerm()), Vote: new(m.GetVote()), Commit: new(m.GetCommit())}
		}
		next := m.GetEntries()
		if len(next) == 0 {
			continue
		}
		if len(ents) == 0 || next[0].GetIndex() <= ents[0].GetIndex() {
			ents = next
			continue
		}
		keep := next[0].GetIndex() - ents[0].GetIndex()
		if keep > uint64(len(ents)) {
			return fmt.Errorf("raftcore: append at %d leaves a gap after %d", next[0].GetIndex(), ents[len(ents)-1].GetIndex())
		}
		ents = append(ents[:keep:keep], next...)
	}
	snap := msgs[0].GetSnapshot()
	if len(ents) == 0 && raft.IsEmptySnap(snap) {
		// Raft needs term and vote durable before it acts on them, never
		// the commit index: a restarted node learns it again from the
		// leader (and reports at least its snapshot's index, see
		// raftStorage.InitialState). A Save that would only move the commit
		// index is therefore deferred to the next Save that writes entries,
		// a snapshot, a term or a vote — or to Close. Writing it at once
		// costs a second fsync per write, on the leader and the followers
		// alike, which roughly doubled single-client latency.
		if hs == nil || (hs.GetTerm() == e.savedTerm && hs.GetVote() == e.savedVote) {
			if hs != nil {
				e.unsavedHS = hs
			}
			return nil
		}
	}
	if hs == nil {
		hs = e.unsavedHS
	}
	start := time.Now()
	err := e.ls.Save(hs, ents, snap)
	if err == nil {
		if hs != nil {
			e.savedTerm, e.savedVote, e.unsavedHS = hs.GetTerm(), hs.GetVote(), nil
		}
		if !raft.IsEmptySnap(snap) {
			e.entries.reset()
		}
		e.entries.saved(ents)
	}
	size := 0
	for _, ent := range ents {
		size += len(ent.GetData())
	}
	e.obs.LogSaved(len(ents), size, time.Since(start), err)
	if err != nil {
		return fmt.Errorf("raftcore: save log: %w", err)
	}
	return nil
}

// deferLeftoverCommit takes the commit index from the hard states of
// msgs, the appends the log writer had not reached when it stopped, so that
// flushCommit writes the newest commit index the node knows (the applier may
// have applied it already). Their entries are dropped: none was
// acknowledged. Only a hard state with the saved term and vote counts (a new
// term or vote was never acted on before it was durable), and its commit
// index is capped at the log's last stored index, since the entries it
// covers may be among those dropped. Only called once the log writer has
// stopped.
func (e *engine) deferLeftoverCommit(msgs []*raftpb.Message) {
	stored, _, err := e.ls.InitialState()
	if err != nil {
		return
	}
	last, err := e.ls.LastIndex()
	if err != nil {
		return
	}
	base := stored.GetCommit()
	if e.unsavedHS != nil {
		base = max(base, e.unsavedHS.GetCommit())
	}
	for _, m := range msgs {
		if m.Term == nil && m.Vote == nil && m.Commit == nil {
			continue
		}
		if m.GetTerm() != e.savedTerm || m.GetVote() != e.savedVote {
			continue
		}
		if c := min(m.GetCommit(), last); c > base {
			base = c
			e.unsavedHS = &raftpb.HardState{Term: new(e.savedTerm), Vote: new(e.savedVote), Commit: new(c)}
		}
	}
}

// flushCommit saves a HardState whose commit index was deferred by save, so
// that a node closed gracefully restarts with the commit index it had. Only
// called once the log writer has stopped.
func (e *engine) flushCommit() error {
	if e.unsavedHS == nil {
		return nil
	}
	if err := e.ls.Save(e.unsavedHS, nil, nil); err != nil {
		return fmt.Errorf("raftcore: save commit index: %w", err)
	}
	e.unsavedHS = nil
	return nil
}

// installSnapshot restores the state machine from a snapshot received from
// the leader and already stored in the SnapshotStore.
func (e *engine) installSnapshot(md *raftpb.SnapshotMetadata) error {
	start := time.Now()
	err := e.restoreSnapshot(md)
	e.obs.Snapshot(SnapshotInstalled, time.Since(start), 0, err)
	if err != nil {
		return err
	}
	e.events.publish(Event{Type: EventSnapshotInstalled, NodeID: e.id, Index: md.GetIndex()})
	return nil
}

// restoreSnapshot replaces the state machine and membership with the snapshot
// at md's index, unless the state machine is already past it.
func (e *engine) restoreSnapshot(md *raftpb.SnapshotMetadata) error {
	idx := md.GetIndex()
	meta, rc, err := e.ss.Open(idx)
	if err != nil {
		return fmt.Errorf("raftcore: open snapshot %d: %w", idx, err)
	}
	defer rc.Close()
	if meta.Term != md.GetTerm() {
		return fmt.Errorf("%w: snapshot %d has term %d, log says %d", ErrCorrupt, idx, meta.Term, md.GetTerm())
	}
	e.smMu.Lock()
	defer e.smMu.Unlock()
	if idx <= e.applied.Load() {
		return nil
	}
	mem, err := readMembershipHeader(rc, md.GetConfState())
	if err != nil {
		return fmt.Errorf("raftcore: snapshot %d: %w", idx, err)
	}
	proposals, err := readAppliedProposals(rc, e.proposals.window)
	if err != nil {
		return fmt.Errorf("raftcore: snapshot %d: %w", idx, err)
	}
	if err := e.sm.restore(rc); err != nil {
		return fmt.Errorf("raftcore: restore snapshot %d: %w", idx, err)
	}
	// Drain the rest so the store verifies its checksum at EOF.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("raftcore: snapshot %d: %w", idx, err)
	}
	e.setMembers(mem)
	e.proposals = proposals
	e.restoredProposals()
	e.appliedTerm = md.GetTerm()
	e.applied.Store(idx)
	raiseTo(&e.lastSnap, idx)
	e.reads.advance(idx)
	return nil
}

// receiveSnapshot stores a snapshot streamed from a peer, before its MsgSnap
// is stepped. A snapshot raft is sure to ignore (a term below ours, an index
// this node has committed) is read and dropped instead of stored: it would
// only be an orphan in the SnapshotStore. Orphans that remain (raft may still
// decline one) sit above the log's snapshot index, where pruning never counts
// them, and are removed at the next start (removeOrphanSnapshots).
func (e *engine) receiveSnapshot(m *raftpb.Message, body io.Reader) error {
	if err := validateSnapshot(m, e.id); err != nil {
		return err
	}
	md := m.GetSnapshot().GetMetadata()
	if m.GetTerm() < e.term.Load() || md.GetIndex() <= max(e.commit.Load(), e.applied.Load()) {
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("raftcore: receive snapshot: %w", err)
		}
		return nil
	}
	sink, err := e.ss.Create(SnapshotMeta{Index: md.GetIndex(), Term: md.GetTerm(), ConfState: md.GetConfState()})
	if err != nil {
		return fmt.Errorf("raftcore: store snapshot: %w", err)
	}
	if _, err := io.Copy(sink, body); err != nil {
		_ = sink.Abort()
		return fmt.Errorf("raftcore: receive snapshot: %w", err)
	}
	if err := sink.Commit(); err != nil {
		return fmt.Errorf("raftcore: store snapshot: %w", err)
	}
	return nil
}

// pruneSnapshots keeps the snapshot the log points to (at logSnap) and the
// newest SnapshotsRetained-1 below it. Snapshots above it are left alone: a
// received one may be on its way to being installed. Stores without Delete
// fall back to Prune with a count that cannot reach the log's snapshot.
func (e *engine) pruneSnapshots(logSnap uint64) error {
	list, err := e.ss.List()
	if err != nil {
		return err
	}
	keep := e.cfg.SnapshotsRetained
	del, ok := e.ss.(SnapshotDeleter)
	if !ok {
		above := 0
		for _, meta := range list {
			if meta.Index > logSnap {
				above++
			}
		}
		return e.ss.Prune(keep + above)
	}
	var errs []error
	kept := 0
	for _, meta := range list { // newest first
		if meta.Index > logSnap {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		if err := del.Delete(meta.Index); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeOrphanSnapshots deletes, at start, the snapshots newer than the one
// the log points to: received ones raft declined or never installed, and
// local ones a crash kept from being recorded. Nothing uses them any more.
func (e *engine) removeOrphanSnapshots(logSnap uint64) error {
	del, ok := e.ss.(SnapshotDeleter)
	if !ok {
		return nil
	}
	list, err := e.ss.List()
	if err != nil {
		return fmt.Errorf("raftcore: list snapshots: %w", err)
	}
	for _, meta := range list {
		if meta.Index > logSnap {
			if err := del.Delete(meta.Index); err != nil {
				return fmt.Errorf("raftcore: remove orphan snapshot %d: %w", meta.Index, err)
			}
		}
	}
	return nil
}

// raiseTo stores v in a unless a already holds more.
func raiseTo(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// setMembers publishes a new membership and tells the transport.
func (e *engine) setMembers(m *membership) {
	e.membersMu.Lock()
	old := e.members
	e.members = m
	e.membersMu.Unlock()
	for id, p := range m.peers {
		if id != e.id {
			if err := e.tr.AddPeer(p); err != nil {
				e.cfg.Logger.Warn("transport rejected peer", "peer", p.String(), "err", err)
			}
		}
	}
	for id := range old.peers {
		if _, ok := m.peers[id]; !ok && id != e.id {
			e.tr.RemovePeer(id)
		}
	}
	if m.removed[e.id] {
		e.removedSelf.Store(true)
	}
}

func (e *engine) membership() *membership {
	e.membersMu.RLock()
	defer e.membersMu.RUnlock()
	return e.members
}

// --- apply role -------------------------------------------------------------

// applyCommitted applies the entries of a MsgStorageApply in order and returns
// the responses to step back into raft.
func (e *engine) applyCommitted(m *raftpb.Message) ([]*raftpb.Message, error) {
	ents := m.GetEntries()
	start := time.Now()
	var resolved []func()
	e.smMu.Lock()
	n := 0
	for _, ent := range ents {
		if ent.GetIndex() <= e.applied.Load() {
			continue // already in the state restored from a snapshot
		}
		fn, err := e.applyEntry(ent)
		if err != nil {
			e.smMu.Unlock()
			return nil, &ApplyError{Index: ent.GetIndex(), Err: err}
		}
		if fn != nil {
			resolved = append(resolved, fn)
		}
		e.appliedTerm = ent.GetTerm()
		e.applied.Store(ent.GetIndex())
		n++
	}
	e.smMu.Unlock()
	if n > 0 {
		e.obs.Applied(n, time.Since(start))
	}
	for _, fn := range resolved {
		fn()
	}
	e.reads.advance(e.applied.Load())
	if !e.cfg.DisableAutoSnapshot && e.applied.Load()-e.lastSnap.Load() >= e.cfg.MaxLogEntries {
		if _, err := e.takeSnapshot(SnapshotAuto); err != nil {
			return nil, err
		}
	}
	return m.GetResponses(), nil
}

// applyEntry applies one entry under smMu and returns what to run once the
// lock is released (resolving the local proposer's wait), if anything.
func (e *engine) applyEntry(ent *raftpb.Entry) (func(), error) {
	switch ent.GetType() {
	case raftpb.EntryNormal:
		if len(ent.GetData()) == 0 {
			return nil, nil // a new leader's empty entry
		}
		origin, id, payload, err := parseEnvelope(ent.GetData())
		if err != nil {
			return nil, err
		}
		if origin != 0 {
			if apply, fail := e.admit(origin, id); !apply {
				return fail, nil // a copy of an applied proposal, or one that never may apply
			}
		}
		var p *proposal // the local proposer waiting for this entry, if any
		if origin == e.id {
			if p = e.waiters.take(id); p != nil && p.stage != nil {
				p.stage(StageCommitted, ent.GetIndex())
			}
		}
		result, err := e.sm.apply(ent.GetIndex(), payload)
		if err != nil || p == nil {
			return nil, err
		}
		idx := ent.GetIndex()
		return func() { p.resolve(proposalResult{index: idx, result: result}) }, nil
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(ent.GetData(), &cc); err != nil {
			return nil, fmt.Errorf("%w: conf change: %v", ErrCorrupt, err)
		}
		return e.applyConfChange(ent.GetIndex(), &cc)
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(ent.GetData(), &cc); err != nil {
			return nil, fmt.Errorf("%w: conf change: %v", ErrCorrupt, err)
		}
		cs, err := e.applyToRaft(&cc)
		if err != nil {
			return nil, err
		}
		mem := e.membership().clone()
		mem.confState = cs
		e.setMembers(mem)
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unknown entry type %v", ErrCorrupt, ent.GetType())
}

func (e *engine) applyConfChange(index uint64, cc *raftpb.ConfChange) (func(), error) {
	var origin uint64
	var id proposalID
	var peer Peer
	var rawPayload []byte
	hasPeer := false
	if len(cc.GetContext()) > 0 {
		o, i, payload, err := parseEnvelope(cc.GetContext())
		if err != nil {
			return nil, err
		}
		origin, id, rawPayload = o, i, payload
		if len(payload) > 0 && cc.GetType() != raftpb.ConfChangeUpdateNode {
			if err := peer.UnmarshalBinary(payload); err != nil {
				return nil, err
			}
			hasPeer = true
		}
	}
	nodeID := cc.GetNodeId()
	mem := e.membership().clone()
	var fail func()
	if origin != 0 {
		var apply bool
		if apply, fail = e.admit(origin, id); !apply {
			// A copy of an applied change (applying it again could undo a
			// later change: re-adding a promoted learner demotes it), or a
			// change that may never apply.
			cc = &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(uint64(0))}
			nodeID, origin = 0, 0
		}
	}
	if cc.GetType() == raftpb.ConfChangeUpdateNode {
		return e.applyMemberUpdate(index, cc, origin, id, rawPayload)
	}
	removesLastVoter := cc.GetType() == raftpb.ConfChangeRemoveNode &&
		len(mem.confState.GetVoters()) == 1 && mem.confState.GetVoters()[0] == nodeID
	if (mem.removed[nodeID] && cc.GetType() != raftpb.ConfChangeRemoveNode) || removesLastVoter {
		// A removed id must never come back, and a cluster must keep a voter;
		// raft would accept the first and panic on the second, so such a
		// change becomes a no-op (node id 0) on every node alike.
		cc = &raftpb.ConfChange{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: new(uint64(0))}
		nodeID = 0
	}
	cs, err := e.applyToRaft(cc)
	if err != nil {
		return nil, err
	}
	mem.confState = cs
	var ev Event
	switch cc.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if nodeID == 0 {
			break
		}
		if hasPeer {
			peer.ID = nodeID
			mem.peers[nodeID] = peer
		} else if _, ok := mem.peers[nodeID]; !ok {
			mem.peers[nodeID] = Peer{ID: nodeID}
		}
		role := MemberVoter
		if cc.GetType() == raftpb.ConfChangeAddLearnerNode {
			role = MemberLearner
		}
		ev = Event{Type: EventMemberAdded, NodeID: e.id, Member: mem.peers[nodeID], Role: memberRole(role), Index: index}
	case raftpb.ConfChangeRemoveNode:
		if nodeID == 0 {
			break
		}
		ev = Event{Type: EventMemberRemoved, NodeID: e.id, Member: mem.peers[nodeID], Role: RoleNone, Index: index}
		if ev.Member.ID == 0 {
			ev.Member.ID = nodeID
		}
		delete(mem.peers, nodeID)
		mem.removed[nodeID] = true
	}
	e.setMembers(mem)
	if ev.Type != 0 {
		e.events.publish(ev)
	}
	if origin != e.id || id.seq == 0 {
		return fail, nil
	}
	if p := e.waiters.take(id); p != nil {
		return func() { p.resolve(proposalResult{index: index}) }, nil
	}
	return nil, nil
}

// Member updates (ConfChangeUpdateNode) carry a mode byte before the Peer.
const (
	memberReplace byte = 'r' // new address and key
	memberBindKey byte = 'b' // a key for a member that has none
)

// applyMemberUpdate applies a ConfChangeUpdateNode: raft's configuration
// does not change; the member's address or key does, the same on every
// node. A bind for a member that already has another key, or an update for
// one that is gone, changes nothing and fails the proposer's call.
func (e *engine) applyMemberUpdate(index uint64, cc *raftpb.ConfChange, origin uint64, id proposalID, payload []byte) (func(), error) {
	var outcome error
	var peer Peer
	if len(payload) < 2 || (payload[0] != memberReplace && payload[0] != memberBindKey) || peer.UnmarshalBinary(payload[1:]) != nil {
		outcome = fmt.Errorf("%w: malformed member update", ErrInvalidConfig)
	}
	// Raft counts the entry as a conf change: it must go through it.
	if _, err := e.applyToRaft(&raftpb.ConfChange{Type: raftpb.ConfChangeUpdateNode.Enum(), NodeId: new(uint64(0))}); err != nil {
		return nil, err
	}
	mem := e.membership()
	cur, ok := mem.peers[cc.GetNodeId()]
	switch {
	case outcome != nil:
	case !ok || !mem.isMember(cc.GetNodeId()):
		outcome = fmt.Errorf("%w: %d", ErrUnknownMember, cc.GetNodeId())
	case payload[0] == memberBindKey && len(cur.Key) > 0 && !bytes.Equal(cur.Key, peer.Key):
		outcome = fmt.Errorf("%w: %d", ErrKeyConflict, cc.GetNodeId())
	case payload[0] == memberBindKey && len(cur.Key) > 0:
		// already bound to this key
	default:
		next := cur
		next.Key = peer.Key
		if payload[0] == memberReplace {
			next.Addr = peer.Addr
		}
		mem = mem.clone()
		mem.peers[cur.ID] = next
		e.setMembers(mem)
		e.events.publish(Event{Type: EventMemberUpdated, NodeID: e.id, Member: next, Index: index})
	}
	if origin != e.id || id.seq == 0 {
		return nil, nil
	}
	if p := e.waiters.take(id); p != nil {
		return func() { p.resolve(proposalResult{index: index, err: outcome}) }, nil
	}
	return nil, nil
}

// applyToRaft applies a conf change to the RawNode. raft panics on a change
// it cannot apply, and on a read of the log that fails as it sends the new
// configuration's messages; either becomes an error that stops this node
// instead of the process, the read's wrapping the store's error.
func (e *engine) applyToRaft(cc raftpb.ConfChangeI) (cs *raftpb.ConfState, err error) {
	e.raftMu.Lock()
	defer e.raftMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			if err = e.readFailure(); err == nil {
				err = fmt.Errorf("raft refused conf change: %v", p)
			}
		}
	}()
	return e.rn.ApplyConfChange(cc), nil
}

func memberRole(r MemberRole) Role {
	if r == MemberLearner {
		return RoleLearner
	}
	return RoleFollower
}

// takeSnapshot writes the state machine at the applied index to the
// SnapshotStore, records it in the LogStore, compacts the log behind it and
// prunes old snapshots. It runs in the apply role.
func (e *engine) takeSnapshot(kind SnapshotKind) (SnapshotMeta, error) {
	return e.takeSnapshotTeed(kind, nil)
}

// takeSnapshotTeed is takeSnapshot streaming the state machine's bytes to
// live as well, when live is not nil and a snapshot is written.
func (e *engine) takeSnapshotTeed(kind SnapshotKind, live *liveCopy) (SnapshotMeta, error) {
	start := time.Now()
	meta, err := e.writeSnapshot(live)
	if live != nil {
		live.finish(err)
	}
	e.obs.Snapshot(kind, time.Since(start), meta.Size, err)
	if err != nil {
		return meta, err
	}
	e.events.publish(Event{Type: EventSnapshotCreated, NodeID: e.id, Index: meta.Index})
	return meta, nil
}

func (e *engine) writeSnapshot(live *liveCopy) (SnapshotMeta, error) {
	e.smMu.RLock()
	index, term := e.applied.Load(), e.appliedTerm
	if index == 0 || index == e.lastSnap.Load() {
		e.smMu.RUnlock()
		list, err := e.ss.List()
		if err == nil && len(list) > 0 && list[0].Index == index {
			return list[0], nil
		}
		return SnapshotMeta{Index: index, Term: term}, err
	}
	mem := e.membership()
	meta := SnapshotMeta{Index: index, Term: term, ConfState: proto.Clone(mem.confState).(*raftpb.ConfState)}
	sink, err := e.ss.Create(meta)
	if err != nil {
		e.smMu.RUnlock()
		return meta, fmt.Errorf("raftcore: create snapshot: %w", err)
	}
	cw := &countingWriter{w: sink}
	err = mem.writeHeader(cw)
	if err == nil {
		err = e.proposals.writeTo(cw)
	}
	if err == nil && live != nil {
		live.start(meta, mem)
		// Small writes reach the copy's buffer in batches; larger ones as
		// they come.
		bw := bufio.NewWriterSize(teeWriter{w: cw, copy: live}, 32<<10)
		if err = e.sm.snapshot(bw); err == nil {
			err = bw.Flush()
		}
	} else if err == nil {
		err = e.sm.snapshot(cw)
	}
	e.smMu.RUnlock()
	if err != nil {
		_ = sink.Abort()
		return meta, fmt.Errorf("raftcore: write snapshot: %w", err)
	}
	if err := sink.Commit(); err != nil {
		return meta, fmt.Errorf("raftcore: commit snapshot: %w", err)
	}
	meta.Size = cw.n
	if live != nil {
		live.committed(func() (StateCopy, error) { return e.openState(meta) })
	}
	md := &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: meta.ConfState}
	if err := e.ls.SetSnapshot(md); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return meta, fmt.Errorf("raftcore: record snapshot: %w", err)
	}
	// A received snapshot may have been installed meanwhile: lastSnap never
	// moves back.
	raiseTo(&e.lastSnap, index)
	if index > e.cfg.TrailingLogEntries {
		compact := index - e.cfg.TrailingLogEntries
		if err := e.ls.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return meta, fmt.Errorf("raftcore: compact log: %w", err)
		}
		e.entries.compacted(compact)
	}
	logSnap, err := e.ls.Snapshot()
	if err != nil {
		return meta, fmt.Errorf("raftcore: read snapshot metadata: %w", err)
	}
	if err := e.pruneSnapshots(logSnap.GetMetadata().GetIndex()); err != nil {
		e.cfg.Logger.Warn("prune snapshots", "err", err)
	}
	return meta, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
