package mgmt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Defaults for ServerConfig's zero values.
const (
	DefaultEventHistory = 4096
	DefaultCallTimeout  = 30 * time.Second
)

// ServerConfig configures a Server. The zero value serves read-only
// operations to members and refuses every mutating call.
type ServerConfig struct {
	// AdminKeys are the public keys (raftcore.Peer.Key as the transport
	// proves it: ed25519 for transport-quic) allowed to make mutating calls.
	AdminKeys [][]byte
	// SecretHoldersAreAdmins makes every caller for which the transport proved
	// a raft id an admin. Set it in cluster-secret mode, where transport-quic
	// proves an id only for certificates signed with the cluster secret (or
	// for members, which hold the secret too). Never set it when members
	// authenticate by pinned keys alone: members would become admins.
	SecretHoldersAreAdmins bool
	// Health reports the node's health checks. Default: one check, "node",
	// derived from the node's status.
	Health HealthChecker
	// Logger receives one line per mutating call (with the caller's key) and
	// per refused call. Default: discard.
	Logger *slog.Logger
	// EventHistory bounds the events kept for streams to replay and resume
	// from. Default: 4096.
	EventHistory int
	// MaxFrameSize bounds a request frame. Default: DefaultMaxFrameSize (1 MiB).
	MaxFrameSize int
	// CallTimeout bounds one call's work on the server (a membership change,
	// a leadership transfer, a snapshot). Default: 30s.
	CallTimeout time.Duration
	// StateMachine names the application's state machine in the
	// description of a state copy (State), so that a backup is not
	// restored into another application. Default: "".
	StateMachine string
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.EventHistory == 0 {
		c.EventHistory = DefaultEventHistory
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c ServerConfig) Validate() error {
	for i, k := range c.AdminKeys {
		if len(k) == 0 {
			return fmt.Errorf("%w: admin key %d is empty", ErrInvalidConfig, i)
		}
	}
	if c.EventHistory < 0 || c.MaxFrameSize < 0 || c.CallTimeout < 0 {
		return fmt.Errorf("%w: EventHistory, MaxFrameSize and CallTimeout must not be negative", ErrInvalidConfig)
	}
	return nil
}

// Server serves jangada/mgmt/1 for one node. Mount creates it.
type Server struct {
	node    Node
	cfg     ServerConfig
	log     *slog.Logger
	history *history

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup
	pumped chan struct{}
}

// Mount serves jangada/mgmt/1 for node on t (registering a stream handler
// for Protocol) and starts following node's events. Close stops it. It
// returns an error wrapping ErrInvalidConfig for a bad cfg, or the
// transport's error.
func Mount(t raftcore.StreamTransport, node Node, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		node:    node,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "mgmt", "node", node.ID()),
		history: newHistory(cfg.EventHistory),
		ctx:     ctx,
		cancel:  cancel,
		pumped:  make(chan struct{}),
	}
	events := node.Subscribe(ctx)
	// Every cluster event after the applied index plus one is published
	// after the subscription began (raft-core publishes an entry's event
	// before it records the entry as applied).
	s.history.coveredFrom = node.Status().AppliedIndex + 1
	go func() {
		defer close(s.pumped)
		s.pump(ctx, events)
	}()
	if err := t.HandleStream(Protocol, s.serve); err != nil {
		cancel()
		<-s.pumped
		return nil, fmt.Errorf("mgmt: mount on transport: %w", err)
	}
	return s, nil
}

// Close stops serving: calls in progress are cancelled and event streams
// end. It waits for them to return. The stream handler stays registered on
// the transport and answers ErrUnavailable. Closing twice is safe.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.pumped
	s.calls.Wait()
	return nil
}

func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

// serve is the StreamHandler of Protocol: one call per stream.
func (s *Server) serve(ctx context.Context, st raftcore.Stream) {
	defer st.Close()
	if !s.enter() {
		s.reply(st, response{Node: s.node.ID(), Error: &wireError{Code: CodeUnavailable, Message: "management server closed"}})
		return
	}
	defer s.calls.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	// Unblocks reads and writes once the call is over or cancelled.
	closeOnDone := context.AfterFunc(ctx, func() { st.Close() })
	defer closeOnDone()

	reqTimer := time.AfterFunc(s.cfg.CallTimeout, cancel)
	var req request
	err := newFrameReader(st, s.cfg.MaxFrameSize).read(kindRequest, &req)
	reqTimer.Stop()
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			s.log.Warn("malformed request", "remote", st.Remote().Addr, "err", err)
			s.reply(st, response{Node: s.node.ID(), Error: &wireError{Code: CodeInvalid, Message: err.Error()}})
		}
		return
	}
	remote := st.Remote()
	status := s.node.Status()
	acc := s.authorize(st, status)
	if acc == accessNone || adminOnly(req.Op) && acc != accessAdmin {
		need := "member or admin"
		if adminOnly(req.Op) {
			need = "admin"
		}
		resp := response{Node: s.node.ID(), Error: &wireError{Code: CodeUnauthorized,
			Message: fmt.Sprintf("%s needs %s credentials; caller key %s", req.Op, need, FormatKey(remote.Key))}}
		if adminOnly(req.Op) {
			s.audit(remote, req, resp)
		} else {
			s.log.Warn("call refused", "op", req.Op, "caller", FormatKey(remote.Key), "caller_id", remote.ID)
		}
		s.reply(st, resp)
		return
	}
	if req.Op == opEvents {
		s.streamEvents(ctx, cancel, st, req)
		return
	}
	if req.Op == opState || req.Op == opStateZstd {
		resp := s.serveState(ctx, st, req.Op == opStateZstd)
		resp.Node = s.node.ID()
		s.audit(remote, req, resp)
		s.reply(st, resp)
		return
	}
	callCtx, cancelCall := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancelCall()
	resp := s.call(callCtx, req, status)
	resp.Node = s.node.ID()
	if e := resp.Error; e != nil && e.Code == CodeNotLeader && len(e.LeaderKey) == 0 && e.LeaderID != 0 {
		for _, m := range s.node.Status().Members {
			if m.ID == e.LeaderID {
				e.LeaderKey = m.Key
				if e.LeaderAddr == "" {
					e.LeaderAddr = m.Addr
				}
			}
		}
	}
	if mutating(req.Op) {
		s.audit(remote, req, resp)
	}
	s.reply(st, resp)
}

func (s *Server) reply(st raftcore.Stream, resp response) {
	frame, err := encodeFrame(kindResponse, resp)
	if err != nil {
		s.log.Error("encode response", "err", err)
		return
	}
	_, _ = st.Write(frame)
}

// audit logs a mutating call and records it as a node event. A call
// answered not-leader changed nothing here and is served again by the
// leader, which audits it: it is logged at debug level only.
func (s *Server) audit(remote raftcore.Peer, req request, resp response) {
	c := &Call{Caller: FormatKey(remote.Key), CallerID: remote.ID, Op: req.Op, Target: req.ID}
	if resp.Error != nil {
		c.Error = string(resp.Error.Code) + ": " + resp.Error.Message
		if resp.Error.Code == CodeNotLeader {
			s.log.Debug("mutating call redirected", "op", req.Op, "target", req.ID, "caller", c.Caller, "caller_id", c.CallerID, "leader", resp.Error.LeaderID)
			return
		}
	}
	level := slog.LevelInfo
	if resp.Error != nil && resp.Error.Code == CodeUnauthorized {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "mutating call", "op", req.Op, "target", req.ID, "caller", c.Caller, "caller_id", c.CallerID, "error", c.Error)
	s.history.append(historyEntry{ev: Event{Type: EventCall, Node: s.node.ID(), Time: time.Now().UTC(), Call: c}})
}

// call runs one unary operation.
func (s *Server) call(ctx context.Context, req request, st raftcore.Status) response {
	switch req.Op {
	case opStatus, opMemberList:
		out := statusOf(st)
		if req.Op == opMemberList {
			return response{Members: out.Members}
		}
		return response{Status: &out}
	case opHealth:
		return response{Health: s.health(ctx, st)}
	case opMemberAdd:
		if req.ID == 0 || req.Address == "" {
			return errorResponse(fmt.Errorf("%w: member-add needs an id and an address", ErrInvalid))
		}
		p := raftcore.Peer{ID: req.ID, Addr: req.Address, Key: req.Key}
		var err error
		if req.Learner {
			err = s.node.AddLearner(ctx, p)
		} else {
			err = s.node.AddVoter(ctx, p)
		}
		return errorResponse(err)
	case opMemberPromote:
		if req.ID == 0 {
			return errorResponse(fmt.Errorf("%w: member-promote needs an id", ErrInvalid))
		}
		return errorResponse(s.node.PromoteLearner(ctx, req.ID))
	case opMemberRemove:
		return s.removeMember(ctx, req.ID, st)
	case opLeaderTransfer:
		return s.transferLeadership(ctx, req.ID, st)
	case opSnapshot:
		meta, err := s.node.Snapshot(ctx)
		if err != nil {
			return errorResponse(err)
		}
		return response{Index: meta.Index}
	}
	return errorResponse(fmt.Errorf("%w: unknown operation %q", ErrInvalid, req.Op))
}

// removeMember removes id. A leader asked to remove itself first hands
// leadership to its most caught-up voter and answers not-leader naming it,
// so that the client makes the removal there: a leader that removes itself
// stops leading only once the removal applies, and proposals in between fail.
func (s *Server) removeMember(ctx context.Context, id uint64, st raftcore.Status) response {
	if id == 0 {
		return errorResponse(fmt.Errorf("%w: member-remove needs an id", ErrInvalid))
	}
	if id == st.ID && st.Role == raftcore.RoleLeader {
		if to := mostCaughtUpVoter(st); to != 0 {
			if err := s.transfer(ctx, to); err != nil {
				return errorResponse(err)
			}
			return errorResponse(notLeader(s.node.Status()))
		}
	}
	return errorResponse(s.node.RemoveMember(ctx, id))
}

// transferLeadership hands leadership to to, or to the most caught-up voter
// when to is 0 (which only the leader knows). It runs on the leader only:
// raft-core's TransferLeadership on a follower forwards raft's
// MsgTransferLeader, whose From is the transferee rather than the sender,
// and transport-quic drops such a message as spoofed. A follower answers
// not-leader and the client asks the leader.
func (s *Server) transferLeadership(ctx context.Context, to uint64, st raftcore.Status) response {
	if st.Role != raftcore.RoleLeader {
		if to != 0 && to == st.Leader {
			return response{Leader: to}
		}
		return errorResponse(notLeader(st))
	}
	if to == 0 {
		if to = mostCaughtUpVoter(st); to == 0 {
			return errorResponse(fmt.Errorf("%w: no other voter to transfer leadership to", ErrConflict))
		}
	}
	if to == st.ID {
		return response{Leader: to}
	}
	if err := s.transfer(ctx, to); err != nil {
		return errorResponse(err)
	}
	return response{Leader: to}
}

// transferAttempts bounds how often the server asks raft again for a
// transfer it abandoned.
const transferAttempts = 3

// transfer hands leadership to to. Raft abandons a transfer whose target
// does not catch up and take over within an election timeout (a busy or
// slow cluster); asking again is harmless, so it asks up to
// transferAttempts times while this node still leads. It returns nil once
// to leads, and a *NotLeaderError when another node took over meanwhile.
func (s *Server) transfer(ctx context.Context, to uint64) error {
	var err error
	for range transferAttempts {
		if err = s.node.TransferLeadership(ctx, to); err == nil || !errors.Is(err, raftcore.ErrTransferFailed) || ctx.Err() != nil {
			return err
		}
		st := s.node.Status()
		switch {
		case st.Leader == to:
			return nil
		case st.Role != raftcore.RoleLeader && st.Leader != 0:
			return notLeader(st)
		}
	}
	return err
}

// mostCaughtUpVoter returns the voter other than the leader with the highest
// match index, preferring one that answered recently, or 0.
func mostCaughtUpVoter(st raftcore.Status) uint64 {
	var best raftcore.MemberStatus
	for _, m := range st.Members {
		if m.ID == st.ID || m.Role != raftcore.MemberVoter {
			continue
		}
		if best.ID == 0 || m.RecentActive && !best.RecentActive ||
			m.RecentActive == best.RecentActive && m.Match > best.Match {
			best = m
		}
	}
	return best.ID
}

func (s *Server) health(ctx context.Context, st raftcore.Status) []HealthCheck {
	if s.cfg.Health != nil {
		return s.cfg.Health.Health(ctx)
	}
	c := HealthCheck{Name: "node", Status: HealthOK, Message: fmt.Sprintf("%s, leader %d, term %d", roleName(st.Role), st.Leader, st.Term)}
	switch {
	case st.Role == raftcore.RoleNone:
		c.Status, c.Message = HealthFail, "not a member of the cluster"
	case st.Leader == 0:
		c.Status, c.Message = HealthDegraded, "no leader known"
	}
	return []HealthCheck{c}
}

// streamEvents answers an Events call: a response frame, then events until
// the client goes away, the stream must resume elsewhere, or (without
// Follow) the history is replayed.
func (s *Server) streamEvents(ctx context.Context, cancel context.CancelFunc, st raftcore.Stream, req request) {
	cur, err := s.history.follow(req.Since, req.Resumed)
	if err != nil {
		s.reply(st, errorResponse(err))
		return
	}
	s.reply(st, response{Node: s.node.ID()})
	// The client keeps its side open while it follows; its end of stream
	// (or any error) means it went away.
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		var b [1]byte
		_, _ = st.Read(b[:])
		cancel()
	}()
	defer func() {
		cancel() // closes the stream, which ends the watcher's Read
		<-watching
	}()
	for {
		ev, err := cur.next(ctx, req.Follow)
		if errors.Is(err, errEndOfHistory) {
			s.reply(st, response{Node: s.node.ID()})
			return
		}
		if err != nil {
			if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) {
				s.reply(st, errorResponse(fmt.Errorf("%w: %w", ErrUnavailable, err)))
			}
			return
		}
		frame, err := encodeFrame(kindEvent, ev)
		if err != nil {
			return
		}
		if _, err := st.Write(frame); err != nil {
			return
		}
	}
}

// statusOf converts a raft-core status; lag is computed against the
// leader's commit index.
func statusOf(st raftcore.Status) Status {
	out := Status{
		ID: st.ID, Role: roleName(st.Role), Leader: st.Leader, Term: st.Term,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, SnapshotIndex: st.SnapshotIndex,
		Members: make([]Member, 0, len(st.Members)),
	}
	leader := st.Role == raftcore.RoleLeader
	for _, m := range st.Members {
		mm := Member{ID: m.ID, Address: m.Addr, Key: m.Key, Role: string(m.Role), Match: m.Match, Progress: leader, Active: m.RecentActive}
		if leader && st.CommitIndex > m.Match {
			mm.Lag = st.CommitIndex - m.Match
		}
		out.Members = append(out.Members, mm)
	}
	return out
}

// notLeader returns the not-leader error for this node's view.
func notLeader(st raftcore.Status) error {
	e := &NotLeaderError{LeaderID: st.Leader}
	for _, m := range st.Members {
		if m.ID == st.Leader {
			e.LeaderAddr, e.LeaderKey = m.Addr, m.Key
		}
	}
	return e
}

// errorResponse maps err (nil for success) to a response.
func errorResponse(err error) response {
	if err == nil {
		return response{}
	}
	we := &wireError{Code: CodeInternal, Message: err.Error()}
	var nl *NotLeaderError
	var rnl *raftcore.NotLeaderError
	switch {
	case errors.As(err, &nl):
		we.Code, we.LeaderID, we.LeaderAddr, we.LeaderKey = CodeNotLeader, nl.LeaderID, nl.LeaderAddr, nl.LeaderKey
	case errors.As(err, &rnl):
		we.Code, we.LeaderID, we.LeaderAddr = CodeNotLeader, rnl.LeaderID, rnl.LeaderAddr
	case errors.Is(err, ErrInvalid):
		we.Code = CodeInvalid
	case errors.Is(err, ErrConflict):
		we.Code = CodeConflict
	case errors.Is(err, ErrUnavailable):
		we.Code = CodeUnavailable
	case errors.Is(err, raftcore.ErrUnknownMember):
		we.Code = CodeNotFound
	case errors.Is(err, raftcore.ErrMemberExists), errors.Is(err, raftcore.ErrIDReused),
		errors.Is(err, raftcore.ErrConfChangeInProgress), errors.Is(err, raftcore.ErrLastVoter):
		we.Code = CodeConflict
	case errors.Is(err, raftcore.ErrProposalDropped), errors.Is(err, raftcore.ErrBusy),
		errors.Is(err, raftcore.ErrStopped), errors.Is(err, raftcore.ErrRemoved),
		errors.Is(err, raftcore.ErrTransferFailed), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled), errors.Is(err, io.ErrClosedPipe):
		we.Code = CodeUnavailable
	}
	return response{Error: we}
}
