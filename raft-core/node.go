package raftcore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// Node is one member of a raft cluster replicating a StateMachine[C, R].
// All methods are safe for concurrent use.
type Node[C, R any] struct {
	cfg      Config
	e        *engine
	r        *runtime
	codec    Codec[C]
	ccFlight atomic.Bool
}

// Start opens the node's stores, restores its latest snapshot into sm,
// bootstraps a new cluster when the log is empty and cfg.Peers is set, and
// starts the transport and the engine's goroutines. ctx bounds the start-up
// only. The node owns cfg.Transport, cfg.LogStore and cfg.SnapshotStore from
// now on and closes them in Close.
func Start[C, R any](ctx context.Context, cfg Config, sm StateMachine[C, R], codec Codec[C]) (*Node[C, R], error) {
	if sm == nil || codec == nil {
		return nil, fmt.Errorf("%w: state machine and codec are required", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e, err := newEngine(cfg, typedMachine[C, R]{sm: sm, codec: codec}, startEpoch())
	if err != nil {
		return nil, err
	}
	n := &Node[C, R]{cfg: cfg, e: e, r: newRuntime(e), codec: codec}
	if err := n.r.start(); err != nil {
		return nil, err
	}
	return n, nil
}

// startEpoch is the epoch of a new incarnation's proposals: the wall clock
// in milliseconds, so that it normally exceeds the previous incarnation's,
// above epochSaltBits random bits, so that no two incarnations share one
// (see dedup.go, which also copes with a clock that went back).
func startEpoch() uint64 {
	var salt [4]byte
	_, _ = rand.Read(salt[:])
	return uint64(time.Now().UnixMilli())<<epochSaltBits | uint64(binary.LittleEndian.Uint32(salt[:]))&(1<<epochSaltBits-1)
}

type typedMachine[C, R any] struct {
	sm    StateMachine[C, R]
	codec Codec[C]
}

func (m typedMachine[C, R]) apply(index uint64, payload []byte) (any, error) {
	cmd, err := m.codec.Decode(payload)
	if err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	return m.sm.Apply(index, cmd), nil
}

func (m typedMachine[C, R]) check(payload []byte) error {
	_, err := m.codec.Decode(payload)
	return err
}

func (m typedMachine[C, R]) snapshot(w io.Writer) error { return m.sm.Snapshot(w) }
func (m typedMachine[C, R]) restore(r io.Reader) error  { return m.sm.Restore(r) }

// ID returns this node's raft id.
func (n *Node[C, R]) ID() uint64 { return n.e.id }

// Leader returns the id of the leader this node knows of, or 0.
func (n *Node[C, R]) Leader() uint64 { return n.e.leader.Load() }

// WaitLeader waits until this node knows a leader and returns its id.
// Errors: ErrStopped, the context's error.
func (n *Node[C, R]) WaitLeader(ctx context.Context) (uint64, error) {
	for {
		changed := n.e.stateChanged()
		if l := n.Leader(); l != 0 {
			return l, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.r.stopc:
			return 0, n.r.stoppedErr()
		}
	}
}

// IsLeader reports whether this node is the leader.
func (n *Node[C, R]) IsLeader() bool { return Role(n.e.role.Load()) == RoleLeader }

// Done is closed once the node has stopped, after Close or a fatal error.
func (n *Node[C, R]) Done() <-chan struct{} { return n.r.donec }

// Err returns why the node stopped: nil while it runs, ErrStopped after
// Close, or ErrStopped wrapping the fatal error (such as an *ApplyError).
func (n *Node[C, R]) Err() error {
	select {
	case <-n.r.stopc:
		return n.r.stoppedErr()
	default:
		return nil
	}
}

func (n *Node[C, R]) checkRunning() error {
	if n.r.closing.Load() {
		return ErrStopped
	}
	select {
	case <-n.r.stopc:
		return n.r.stoppedErr()
	default:
	}
	if n.e.removedSelf.Load() {
		return ErrRemoved
	}
	return nil
}

// Propose replicates cmd and returns the result of applying it, as computed
// by this node's state machine once the entry is committed and applied here.
// It works on any member: followers forward to the leader.
//
// Errors: ErrTooLarge, ErrBusy (FailFastWhenBusy), ErrProposalDropped (no
// leader, transfer in progress, uncommitted log full, or refused as below:
// the command has no effect), ErrStopped, ErrRemoved, or the context's
// error. After a context error or ErrStopped the outcome is unknown: the
// command may still commit and apply.
//
// The engine itself never applies one Propose call twice, however late a
// copy arrives: a proposal lost on its way to the leader (or dropped by a
// deposed leader) is proposed again after an election timeout under the same
// id, and only its first committed copy is applied. A proposal whose first
// committed copy comes after 8,192 later proposals of this node applied is
// refused with ErrProposalDropped rather than risk applying it twice. A
// caller that retries after an error makes a new proposal: commands that
// must not apply twice then need their own idempotency key.
func (n *Node[C, R]) Propose(ctx context.Context, cmd C) (R, error) {
	var zero R
	if err := n.checkRunning(); err != nil {
		return zero, err
	}
	payload, err := n.codec.Encode(cmd)
	if err != nil {
		return zero, fmt.Errorf("raftcore: encode command: %w", err)
	}
	if len(payload) > n.cfg.MaxCommandSize {
		return zero, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), n.cfg.MaxCommandSize)
	}
	ctx, done := n.e.obs.Propose(ctx, len(payload))
	p := n.e.newCommand(payload)
	if so, ok := n.e.obs.(StageObserver); ok {
		p.stage = so.ProposalStages(ctx)
	}
	res, err := n.submit(ctx, p)
	done(res.index, err)
	if err != nil {
		return zero, err
	}
	r, _ := res.result.(R)
	return r, nil
}

// submit queues p for the raft goroutine and waits for its entry to apply.
func (n *Node[C, R]) submit(ctx context.Context, p *proposal) (proposalResult, error) {
	n.e.waiters.add(p)
	if n.cfg.FailFastWhenBusy {
		select {
		case n.r.propc <- p:
		default:
			n.e.waiters.remove(p.id)
			return proposalResult{}, ErrBusy
		}
	} else {
		select {
		case n.r.propc <- p:
		case <-ctx.Done():
			n.e.waiters.remove(p.id)
			return proposalResult{}, ctx.Err()
		case <-n.r.stopc:
			n.e.waiters.remove(p.id)
			return proposalResult{}, n.r.stoppedErr()
		}
	}
	select {
	case res := <-p.done:
		return res, res.err
	case <-ctx.Done():
		n.e.waiters.remove(p.id)
		return proposalResult{}, ctx.Err()
	case <-n.r.stopc:
		n.e.waiters.remove(p.id)
		return proposalResult{}, n.r.stoppedErr()
	}
}

// Read runs fn once this node's state machine reflects every write committed
// before Read was called (linearizable, via raft's ReadIndex; from the
// leader's lease when Config.LeaseReads is set). fn runs under a shared lock:
// it may read the state machine but must not keep references past its return.
// It works on any member; followers ask the leader for the read index.
//
// Errors: ErrStopped, ErrRemoved, ErrBusy, the context's error, or fn's error.
func (n *Node[C, R]) Read(ctx context.Context, fn func() error) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	ctx, done := n.e.obs.Read(ctx)
	index, err := n.readIndex(ctx)
	done(index, err)
	if err != nil {
		return err
	}
	n.e.smMu.RLock()
	defer n.e.smMu.RUnlock()
	return fn()
}

func (n *Node[C, R]) readIndex(ctx context.Context) (uint64, error) {
	// A lease read needs nothing from the raft goroutine: served here, it
	// costs no hand-off there and back.
	index, lease := n.e.leaseIndex()
	if lease && n.e.applied.Load() >= index {
		return index, nil
	}
	w := &readWaiter{done: make(chan readResult, 1)}
	if lease {
		n.e.waitApplied(index, []*readWaiter{w})
	} else {
		select {
		case n.r.readc <- w:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.r.stopc:
			return 0, n.r.stoppedErr()
		}
	}
	select {
	case res := <-w.done:
		return res.index, res.err
	case <-ctx.Done():
		w.abandoned.Store(true)
		return 0, ctx.Err()
	case <-n.r.stopc:
		return 0, n.r.stoppedErr()
	}
}

// ReadStale runs fn against this node's state machine as it is now, without
// contacting any other node. The state may lag the leader's: use it only where
// stale data is acceptable. fn runs under a shared lock.
func (n *Node[C, R]) ReadStale(fn func() error) error {
	select {
	case <-n.r.donec:
		return n.r.stoppedErr()
	default:
	}
	n.e.smMu.RLock()
	defer n.e.smMu.RUnlock()
	return fn()
}

// AppliedIndex returns the index of the last entry applied to the state machine.
func (n *Node[C, R]) AppliedIndex() uint64 { return n.e.applied.Load() }

// Subscribe returns a channel of this node's events, closed when ctx is done
// or the node stops. The engine never waits for a subscriber: one that falls
// more than 256 events behind loses events and then receives an EventsLost
// event saying how many.
func (n *Node[C, R]) Subscribe(ctx context.Context) <-chan Event {
	return n.e.events.subscribe(ctx)
}

// Snapshot takes a snapshot of the state machine now (at the applied index),
// records it, compacts the log behind it and returns its metadata. If the
// latest snapshot is already at the applied index, that one is returned.
func (n *Node[C, R]) Snapshot(ctx context.Context) (SnapshotMeta, error) {
	if err := n.checkRunning(); err != nil {
		return SnapshotMeta{}, err
	}
	reply := make(chan snapshotReply, 1)
	n.r.applyq.push(applyJob{snap: reply})
	select {
	case res := <-reply:
		return res.meta, res.err
	case <-ctx.Done():
		return SnapshotMeta{}, ctx.Err()
	case <-n.r.stopc:
		return SnapshotMeta{}, n.r.stoppedErr()
	}
}

// AddVoter adds p as a voting member. Prefer AddLearner followed by
// PromoteLearner for a node that must catch up first: a voter that needs a
// large snapshot can stall the quorum. Returns once the change is applied
// on this node.
//
// Membership changes are made on the leader: on another node they return a
// *NotLeaderError naming the leader. One change is applied at a time; a call
// made while the previous change is still being applied waits for it.
//
// Errors: *NotLeaderError, ErrMemberExists, ErrIDReused,
// ErrConfChangeInProgress (another call on this node is running),
// ErrProposalDropped, ErrStopped, the context's error.
func (n *Node[C, R]) AddVoter(ctx context.Context, p Peer) error {
	return n.addMember(ctx, p, raftpb.ConfChangeAddNode)
}

// AddLearner adds p as a non-voting member that receives the log (by
// snapshot when far behind). See AddVoter for errors.
func (n *Node[C, R]) AddLearner(ctx context.Context, p Peer) error {
	return n.addMember(ctx, p, raftpb.ConfChangeAddLearnerNode)
}

func (n *Node[C, R]) addMember(ctx context.Context, p Peer, typ raftpb.ConfChangeType) error {
	if p.ID == 0 || raft.IsLocalMsgTarget(p.ID) {
		return fmt.Errorf("%w: member id %d", ErrInvalidConfig, p.ID)
	}
	mem := n.e.membership()
	switch {
	case mem.removed[p.ID]:
		return fmt.Errorf("%w: %d", ErrIDReused, p.ID)
	case mem.isMember(p.ID):
		return fmt.Errorf("%w: %d", ErrMemberExists, p.ID)
	}
	return n.changeMembership(ctx, typ, p)
}

// PromoteLearner makes learner id a voter. See AddVoter for errors;
// ErrUnknownMember if id is not a learner.
func (n *Node[C, R]) PromoteLearner(ctx context.Context, id uint64) error {
	mem := n.e.membership()
	if !mem.isLearner(id) {
		return fmt.Errorf("%w: %d is not a learner", ErrUnknownMember, id)
	}
	return n.changeMembership(ctx, raftpb.ConfChangeAddNode, mem.peers[id])
}

// RemoveMember removes member id, which may be this node or the leader (the
// leader steps down once the removal applies). A removed id can never be
// added again. See AddVoter for errors; ErrUnknownMember if id is not a
// member, ErrLastVoter if it is the only voter.
func (n *Node[C, R]) RemoveMember(ctx context.Context, id uint64) error {
	mem := n.e.membership()
	if !mem.isMember(id) {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if voters := mem.confState.GetVoters(); len(voters) == 1 && voters[0] == id {
		return ErrLastVoter
	}
	return n.changeMembership(ctx, raftpb.ConfChangeRemoveNode, Peer{ID: id})
}

// UpdateMember replaces the address and key of member p.ID, on every node
// through the log: for a member that moved, or whose identity key was
// rotated. The transport pins the new key once the change applies. See
// AddVoter for errors; ErrUnknownMember if p.ID is not a member.
func (n *Node[C, R]) UpdateMember(ctx context.Context, p Peer) error {
	if !n.e.membership().isMember(p.ID) {
		return fmt.Errorf("%w: %d", ErrUnknownMember, p.ID)
	}
	return n.changeMembership(ctx, raftpb.ConfChangeUpdateNode, p, memberReplace)
}

// BindMemberKey records key as member id's identity key if it has none yet
// (trust on first use, for members added without a key): every node then
// pins it, and no other key is accepted for id. Binding the key the member
// already has succeeds and changes nothing. Errors as for UpdateMember, and
// ErrKeyConflict if the member is bound to another key.
func (n *Node[C, R]) BindMemberKey(ctx context.Context, id uint64, key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidConfig)
	}
	p, ok := n.e.membership().peers[id]
	if !ok || !n.e.membership().isMember(id) {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if len(p.Key) > 0 {
		if bytes.Equal(p.Key, key) {
			return nil
		}
		return fmt.Errorf("%w: %d", ErrKeyConflict, id)
	}
	p.Key = key
	return n.changeMembership(ctx, raftpb.ConfChangeUpdateNode, p, memberBindKey)
}

func (n *Node[C, R]) changeMembership(ctx context.Context, typ raftpb.ConfChangeType, p Peer, update ...byte) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	if !n.ccFlight.CompareAndSwap(false, true) {
		return ErrConfChangeInProgress
	}
	defer n.ccFlight.Store(false)
	var peerBytes []byte
	if typ != raftpb.ConfChangeRemoveNode {
		peerBytes, _ = p.MarshalBinary()
	}
	if typ == raftpb.ConfChangeUpdateNode {
		peerBytes = append(update[:1:1], peerBytes...)
	}
	// raft refuses a change while the previous one is still being applied
	// on the leader; that lasts one apply round, so retry shortly.
	backoff := n.cfg.TickInterval
	for {
		_, err := n.submit(ctx, n.e.newConfChange(typ, p.ID, peerBytes))
		if !errors.Is(err, errConfChangeRefused) {
			return err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, n.cfg.ElectionTimeout)
	}
}

// TransferLeadership hands leadership to voter to and waits until to
// leads. It is called on the leader, like the membership changes: on another
// node it returns a *NotLeaderError naming the leader. (Raft would relay the
// request, but it names the transferee as its sender, which authenticating
// transports rightly drop.)
//
// Errors: *NotLeaderError, ErrUnknownMember, ErrTransferFailed (to did not
// take over within two election timeouts), ErrStopped, the context's error.
func (n *Node[C, R]) TransferLeadership(ctx context.Context, to uint64) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	if !n.e.membership().isVoter(to) {
		return fmt.Errorf("%w: %d is not a voter", ErrUnknownMember, to)
	}
	if n.Leader() == to {
		return nil
	}
	if !n.IsLeader() {
		return n.e.notLeader(n.Leader())
	}
	if err := n.r.control(ctx, func() { n.e.rn.TransferLeader(to) }); err != nil {
		return err
	}
	return n.waitLeader(ctx, to, 2*n.cfg.ElectionTimeout)
}

// waitLeader waits until want leads, for at most limit.
func (n *Node[C, R]) waitLeader(ctx context.Context, want uint64, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		changed := n.e.stateChanged()
		if n.Leader() == want {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("%w: leader is %d, wanted %d", ErrTransferFailed, n.Leader(), want)
		case <-ctx.Done():
			return ctx.Err()
		case <-n.r.stopc:
			return n.r.stoppedErr()
		}
	}
}

// Status returns a snapshot of this node's view of the cluster.
func (n *Node[C, R]) Status() Status {
	n.e.raftMu.Lock()
	st := n.e.rn.Status()
	// The leader the node's API acts on (Leader, proposals, forwarding),
	// which follows raft's by one Ready at most.
	lead := n.e.leader.Load()
	active := n.e.leaderActive(lead)
	n.e.raftMu.Unlock()
	mem := n.e.membership()
	out := Status{
		ID:             n.e.id,
		Role:           Role(n.e.role.Load()),
		Leader:         lead,
		LeaderActive:   active,
		Term:           st.HardState.GetTerm(),
		CommitIndex:    st.HardState.GetCommit(),
		AppliedIndex:   n.e.applied.Load(),
		SnapshotIndex:  n.e.lastSnap.Load(),
		LeadTransferee: st.LeadTransferee,
	}
	if !mem.isMember(n.e.id) {
		out.Role = RoleNone
	} else if out.Role == RoleFollower && mem.isLearner(n.e.id) {
		out.Role = RoleLearner
	}
	for id, p := range mem.peers {
		ms := MemberStatus{Peer: p, Role: MemberVoter}
		if mem.isLearner(id) {
			ms.Role = MemberLearner
		}
		if pr, ok := st.Progress[id]; ok {
			ms.Match, ms.Next, ms.RecentActive = pr.Match, pr.Next, pr.RecentActive
			ms.State = progressState(pr.State)
		}
		out.Members = append(out.Members, ms)
	}
	slices.SortFunc(out.Members, func(a, b MemberStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func progressState(s tracker.StateType) string {
	switch s {
	case tracker.StateProbe:
		return "probe"
	case tracker.StateReplicate:
		return "replicate"
	case tracker.StateSnapshot:
		return "snapshot"
	}
	return s.String()
}

// Close shuts the node down gracefully: new calls fail with ErrStopped; a
// leader first hands leadership to its most up-to-date voter (bounded by ctx
// and two election timeouts); then in-flight proposals and reads fail with
// ErrStopped, the goroutines stop, and the transport and stores are closed.
// It returns errors from closing the transport and stores only; why a node
// stopped on its own is reported by Err. Closing twice is safe.
func (n *Node[C, R]) Close(ctx context.Context) error {
	if !n.r.closing.CompareAndSwap(false, true) {
		<-n.r.donec
		return nil
	}
	if ctx.Err() == nil && n.IsLeader() {
		if to := n.transferTarget(); to != 0 {
			if err := n.r.control(ctx, func() { n.e.rn.TransferLeader(to) }); err == nil {
				_ = n.waitLeader(ctx, to, 2*n.cfg.ElectionTimeout)
			}
		}
	}
	return n.r.shutdown(true)
}

// transferTarget picks the voter with the highest match index.
func (n *Node[C, R]) transferTarget() uint64 {
	st := n.Status()
	var best uint64
	var bestMatch uint64
	for _, m := range st.Members {
		if m.ID == n.e.id || m.Role != MemberVoter || !m.RecentActive {
			continue
		}
		if best == 0 || m.Match > bestMatch {
			best, bestMatch = m.ID, m.Match
		}
	}
	return best
}
