package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Self is this node: its raft id, the address others reach it at, and
	// its key. ID and Addr are required.
	Self raftcore.Peer
	// ClusterSecrets check join tickets: the current secret first, then any
	// accepted during a rotation. Without one, every ticket is refused as
	// foreign.
	ClusterSecrets [][]byte
	// Authorized decides whether the remote of a stream may form a cluster
	// with this node (bootstrap-expect) and join it without a ticket. The
	// default trusts the holders of the cluster secret
	// (raftcore.SecretHolderStream) and nobody else.
	Authorized func(raftcore.Stream) bool
	// ClockSkew is how long after its expiry a ticket is still accepted.
	// Default: DefaultClockSkew.
	ClockSkew time.Duration
	// Autopilot configures automatic promotion and dead-voter removal.
	Autopilot AutopilotConfig
	// Promises, when set, keeps the promise a forming node gave a decider
	// (bootstrap-expect) across a restart, so that a node restarted in the
	// middle of a formation cannot promise a second decider. Default: the
	// promise lives in memory only.
	Promises PromiseStore
	// Now returns the time. Default: time.Now.
	Now func() time.Time
	// Logger receives a line per join, promotion and refusal. Default:
	// discard.
	Logger *slog.Logger
}

// Validate reports the first problem with c, wrapping ErrInvalid.
func (c ServerConfig) Validate() error {
	switch {
	case c.Self.ID == 0:
		return fmt.Errorf("%w: ServerConfig.Self.ID is required", ErrInvalid)
	case c.Self.Addr == "":
		return fmt.Errorf("%w: ServerConfig.Self.Addr is required", ErrInvalid)
	case c.ClockSkew < 0:
		return fmt.Errorf("%w: ClockSkew must not be negative", ErrInvalid)
	}
	return c.Autopilot.Validate()
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Authorized == nil {
		c.Authorized = SecretHolder
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Autopilot = c.Autopilot.withDefaults()
	return c
}

// PromiseStore keeps a forming node's promise to form only a decider's set.
type PromiseStore interface {
	// Load returns the stored promise; decider 0 means none.
	Load() (decider uint64, set []raftcore.Peer, err error)
	// Save stores a promise durably before it is given; decider 0 clears it.
	Save(decider uint64, set []raftcore.Peer) error
}

// SecretHolder reports whether the remote of s proved that it holds the
// cluster secret. It is ServerConfig.Authorized's default.
func SecretHolder(s raftcore.Stream) bool {
	sh, ok := s.(raftcore.SecretHolderStream)
	return ok && sh.ClusterSecretHolder()
}

// Server answers jangada/discovery/1 on a node: probes of nodes looking for
// a cluster, the locks of bootstrap-expect, joins (with a ticket, or from
// authorized peers) and promotions. Before the node's raft node runs
// (SetNode), it answers as a fresh node that waits to form a cluster.
type Server struct {
	cfg    ServerConfig
	pilot  *Autopilot
	ctx    context.Context // ends with Close: calls in progress give up
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	node    mgmt.Node
	lock    *formationLock
	formed  []raftcore.Peer
	waiting string
	calls   sync.WaitGroup
}

// formationLock is the promise to form only decider's set.
type formationLock struct {
	decider uint64
	set     []raftcore.Peer
}

// Mount registers a Server for Protocol on tr. Close stops it.
func Mount(tr raftcore.StreamTransport, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg.withDefaults()}
	if s.cfg.Promises != nil {
		decider, set, err := s.cfg.Promises.Load()
		if err != nil {
			return nil, fmt.Errorf("discovery: load the formation promise: %w", err)
		}
		if decider != 0 {
			s.lock = &formationLock{decider: decider, set: set}
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pilot = newAutopilot(s.cfg.Autopilot, s.cfg.Now, s.cfg.Logger)
	if err := tr.HandleStream(Protocol, s.serve); err != nil {
		return nil, fmt.Errorf("discovery: mount: %w", err)
	}
	return s, nil
}

// SetNode tells the server that the node runs: from now on it answers with
// the node's membership and serves joins and promotions.
func (s *Server) SetNode(n mgmt.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node = n
	s.pilot.setNode(n)
}

// Autopilot returns the server's autopilot (its Run removes dead voters).
func (s *Server) Autopilot() *Autopilot { return s.pilot }

// Waiting describes why a formation waits ("2 of 3 expected nodes
// visible"), or is empty.
func (s *Server) Waiting() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

func (s *Server) setWaiting(w string) {
	s.mu.Lock()
	s.waiting = w
	s.mu.Unlock()
}

// Close stops serving: calls in progress are abandoned (a membership change
// already proposed may still be made) and later streams are closed
// unanswered. It returns once no call runs.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.calls.Wait()
	return nil
}

func (s *Server) serve(ctx context.Context, stream raftcore.Stream) {
	defer stream.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.calls.Add(1)
	s.mu.Unlock()
	defer s.calls.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()
	stop := context.AfterFunc(ctx, func() { _ = stream.Close() })
	defer stop()
	var req request
	if err := readFrame(stream, &req); err != nil {
		_ = writeFrame(stream, response{Error: errorOf(err)})
		return
	}
	resp, err := s.handle(ctx, stream, req)
	resp.Node = toWire(s.cfg.Self)
	if err != nil {
		resp.Error = errorOf(err)
	}
	_ = writeFrame(stream, resp)
	_ = stream.CloseWrite()
}

func (s *Server) handle(ctx context.Context, stream raftcore.Stream, req request) (response, error) {
	switch req.Op {
	case opProbe:
		resp := s.probe()
		resp.SeenAs = stream.Remote().Addr
		return resp, nil
	case opLock, opUnlock:
		if !s.cfg.Authorized(stream) {
			return response{}, fmt.Errorf("%w: only holders of the cluster secret may form a cluster with node %d", ErrUnauthorized, s.cfg.Self.ID)
		}
		if req.Op == opLock {
			return s.lockFor(req.From, peersOf(req.Set))
		}
		s.unlock(req.From)
		return s.probe(), nil
	case opJoin:
		return s.join(ctx, stream, req)
	case opPromote:
		return s.promote(ctx, stream, req)
	case opAddress:
		return s.moveMember(ctx, stream, req)
	}
	return response{}, fmt.Errorf("%w: unknown operation %q", ErrProtocol, req.Op)
}

// probe describes this node.
func (s *Server) probe() response {
	s.mu.Lock()
	defer s.mu.Unlock()
	var resp response
	if s.lock != nil {
		resp.LockedBy = s.lock.decider
	}
	for _, p := range s.formed {
		resp.Formed = append(resp.Formed, toWire(p))
	}
	if s.node == nil {
		resp.Fresh = s.formed == nil
		resp.Waiting = s.waiting
		return resp
	}
	st := s.node.Status()
	resp.Leader = st.Leader
	resp.Members = membersOf(st)
	return resp
}

func membersOf(st raftcore.Status) []wirePeer {
	out := make([]wirePeer, 0, len(st.Members))
	for _, m := range st.Members {
		w := toWire(m.Peer)
		w.Role = string(m.Role)
		out = append(out, w)
	}
	return out
}

// lockFor promises decider to form only set, if this node is fresh and
// promised nothing else.
func (s *Server) lockFor(decider uint64, set []raftcore.Peer) (response, error) {
	if !slices.ContainsFunc(set, func(p raftcore.Peer) bool { return p.ID == s.cfg.Self.ID }) {
		return response{}, fmt.Errorf("%w: the set of decider %d does not include node %d", ErrInvalid, decider, s.cfg.Self.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.node != nil || s.formed != nil:
		return response{}, fmt.Errorf("%w: node %d is already in a cluster", ErrUnavailable, s.cfg.Self.ID)
	case s.lock != nil && s.lock.decider != decider:
		return response{LockedBy: s.lock.decider}, fmt.Errorf("%w: node %d promised to form with node %d", ErrUnavailable, s.cfg.Self.ID, s.lock.decider)
	}
	if s.cfg.Promises != nil {
		if err := s.cfg.Promises.Save(decider, set); err != nil {
			return response{}, fmt.Errorf("%w: keep the promise: %w", ErrUnavailable, err)
		}
	}
	s.lock = &formationLock{decider: decider, set: slices.Clone(set)}
	return response{LockedBy: decider}, nil
}

func (s *Server) unlock(decider uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock != nil && s.lock.decider == decider && s.formed == nil {
		if s.cfg.Promises != nil {
			if err := s.cfg.Promises.Save(0, nil); err != nil {
				s.cfg.Logger.Warn("could not clear the formation promise; it stands", "decider", decider, "err", err)
				return
			}
		}
		s.lock = nil
	}
}

// lockedSet returns the set this node promised to form, if any.
func (s *Server) lockedSet() (uint64, []raftcore.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return 0, nil
	}
	return s.lock.decider, slices.Clone(s.lock.set)
}

// setFormed records the initial membership this node starts with.
func (s *Server) setFormed(set []raftcore.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.formed = slices.Clone(set)
	s.waiting = ""
}

// leaderNode returns the running node if it leads, else the error to
// answer with.
func (s *Server) leaderNode() (mgmt.Node, raftcore.Status, error) {
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	if node == nil {
		return nil, raftcore.Status{}, fmt.Errorf("%w: node %d is not running yet", ErrUnavailable, s.cfg.Self.ID)
	}
	st := node.Status()
	if st.Role == raftcore.RoleLeader {
		return node, st, nil
	}
	nl := &NotLeaderError{LeaderID: st.Leader}
	for _, m := range st.Members {
		if m.ID == st.Leader {
			nl.LeaderAddr, nl.LeaderKey = m.Addr, m.Key
		}
	}
	if nl.LeaderAddr == "" {
		return nil, st, fmt.Errorf("%w: no leader known", ErrUnavailable)
	}
	return nil, st, nl
}

// join adds the caller as a learner: the node id its ticket grants, or,
// for an authorized caller without a ticket, the id it claims.
func (s *Server) join(ctx context.Context, stream raftcore.Stream, req request) (response, error) {
	id := req.From
	if req.Ticket != "" {
		t, err := ParseTicket(req.Ticket)
		if err != nil {
			return response{}, err
		}
		if err := t.Verify(s.cfg.ClusterSecrets, s.cfg.Now(), s.cfg.ClockSkew); err != nil {
			s.cfg.Logger.Warn("join refused", "node", t.NodeID, "err", err)
			return response{}, err
		}
		id = t.NodeID
	} else if !s.cfg.Authorized(stream) {
		return response{}, fmt.Errorf("%w: joining node %d needs a join ticket", ErrUnauthorized, s.cfg.Self.ID)
	}
	if id == 0 || req.Addr == "" {
		return response{}, fmt.Errorf("%w: a join names the node's id and address", ErrInvalid)
	}
	req.Addr = reachableAddr(req.Addr, stream.Remote().Addr)
	node, st, err := s.leaderNode()
	if err != nil {
		return response{}, err
	}
	key := stream.Remote().Key
	for _, m := range st.Members {
		if m.ID != id {
			continue
		}
		if m.Addr == req.Addr && (len(m.Key) == 0 || bytes.Equal(m.Key, key)) {
			return response{Members: membersOf(st), Leader: st.ID}, nil // the same node asking again
		}
		return response{}, fmt.Errorf("%w: node id %d is already a member (at %s)", ErrTicketUsed, id, m.Addr)
	}
	p := raftcore.Peer{ID: id, Addr: req.Addr, Key: key}
	if err := node.AddLearner(ctx, p); err != nil {
		switch {
		case errors.Is(err, raftcore.ErrIDReused), errors.Is(err, raftcore.ErrMemberExists):
			return response{}, fmt.Errorf("%w: node id %d is or was a member", ErrTicketUsed, id)
		case errors.Is(err, raftcore.ErrInvalidConfig):
			return response{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return response{}, fmt.Errorf("%w: add learner %d: %w", ErrUnavailable, id, err)
	}
	s.cfg.Logger.Info("node joined as a learner", "node", id, "address", req.Addr, "ticket", req.Ticket != "")
	st = node.Status()
	return response{Members: membersOf(st), Leader: st.ID}, nil
}

// promote makes the caller, a learner, a voter once the autopilot finds it
// caught up. The caller must be the learner itself (as the transport proved)
// and hold a voter ticket for its id, or be authorized.
func (s *Server) promote(ctx context.Context, stream raftcore.Stream, req request) (response, error) {
	remote := stream.Remote()
	if remote.ID == 0 || remote.ID != req.From {
		return response{}, fmt.Errorf("%w: only a member may ask for its own promotion", ErrUnauthorized)
	}
	if req.Ticket != "" {
		t, err := ParseTicket(req.Ticket)
		if err != nil {
			return response{}, err
		}
		if err := t.verifySignature(s.cfg.ClusterSecrets); err != nil {
			return response{}, err
		}
		if t.NodeID != req.From || t.Role != RoleVoter {
			return response{}, fmt.Errorf("%w: the ticket grants node %d the role %s", ErrUnauthorized, t.NodeID, t.Role)
		}
	} else if !s.cfg.Authorized(stream) {
		return response{}, fmt.Errorf("%w: promotion needs a voter ticket", ErrUnauthorized)
	}
	node, _, err := s.leaderNode()
	if err != nil {
		return response{}, err
	}
	voter, lag, err := s.pilot.consider(ctx, node, req.From)
	return response{Voter: voter, Lag: lag}, err
}

// memberUpdater is implemented by nodes that can change a member's address
// (*raftcore.Node does).
type memberUpdater interface {
	UpdateMember(ctx context.Context, p raftcore.Peer) error
}

// moveMember records the new address of the caller, a member that
// restarted elsewhere: the transport proved its id (by its key), whatever
// address it comes from.
func (s *Server) moveMember(ctx context.Context, stream raftcore.Stream, req request) (response, error) {
	remote := stream.Remote()
	if remote.ID == 0 || remote.ID != req.From || req.Addr == "" {
		return response{}, fmt.Errorf("%w: only a member may announce its own address", ErrUnauthorized)
	}
	req.Addr = reachableAddr(req.Addr, remote.Addr)
	node, st, err := s.leaderNode()
	if err != nil {
		return response{}, err
	}
	for _, m := range st.Members {
		if m.ID != req.From {
			continue
		}
		if m.Addr == req.Addr {
			return response{Members: membersOf(st), Leader: st.ID}, nil
		}
		up, ok := node.(memberUpdater)
		if !ok {
			return response{}, fmt.Errorf("%w: this node cannot change member addresses", ErrUnavailable)
		}
		key := m.Key
		if len(key) == 0 {
			key = remote.Key
		}
		if err := up.UpdateMember(ctx, raftcore.Peer{ID: m.ID, Addr: req.Addr, Key: key}); err != nil {
			return response{}, fmt.Errorf("%w: update member %d: %w", ErrUnavailable, m.ID, err)
		}
		s.cfg.Logger.Info("member moved", "node", m.ID, "from", m.Addr, "to", req.Addr)
		st = node.Status()
		return response{Members: membersOf(st), Leader: st.ID}, nil
	}
	return response{}, fmt.Errorf("%w: node %d is not a member", ErrInvalid, req.From)
}

// reachableAddr returns addr, a node's listening address, with its host
// replaced by the host the node's stream came from when addr's host is
// unspecified (0.0.0.0, ::, empty): a node listening on every interface is
// reached where it was seen.
func reachableAddr(addr, seenFrom string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	seenHost, _, err := net.SplitHostPort(seenFrom)
	if err != nil || seenHost == "" {
		return addr
	}
	return net.JoinHostPort(seenHost, port)
}

// listensAt reports whether a node listening on listen is reached at addr:
// the same address, or, when listen's host is unspecified, the same port.
func listensAt(listen, addr string) bool {
	if listen == addr {
		return true
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return false
	}
	_, addrPort, err := net.SplitHostPort(addr)
	return err == nil && addrPort == port
}
