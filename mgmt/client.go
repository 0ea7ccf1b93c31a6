package mgmt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Defaults for ClientConfig's zero values.
const (
	DefaultRetryBackoff = 100 * time.Millisecond
	DefaultMaxRetries   = 5
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Transport opens the client's streams and carries its credentials: the
	// identity key (pinned-key mode) or the cluster secret it proves to the
	// nodes. Required.
	Transport raftcore.StreamTransport
	// MaxFrameSize bounds a frame from a server. Default: DefaultMaxFrameSize.
	MaxFrameSize int
	// RetryBackoff is the first pause between two rounds over the endpoints;
	// it doubles up to one second. Default: 100ms.
	RetryBackoff time.Duration
	// MaxRetries bounds the rounds over the endpoints of one call (and the
	// leader redirections of a mutating call). Default: 5.
	MaxRetries int
	// Logger receives a line per failed attempt. Default: discard.
	Logger *slog.Logger
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c ClientConfig) Validate() error {
	switch {
	case c.Transport == nil:
		return fmt.Errorf("%w: ClientConfig.Transport is required", ErrInvalidConfig)
	case c.MaxFrameSize < 0 || c.RetryBackoff < 0 || c.MaxRetries < 0:
		return fmt.Errorf("%w: MaxFrameSize, RetryBackoff and MaxRetries must not be negative", ErrInvalidConfig)
	}
	return nil
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client calls the management servers of a cluster. It tries its endpoints
// in turn, sends mutating calls to the leader (following not-leader answers)
// and retries reads on another endpoint. It is safe for concurrent use.
type Client struct {
	cfg       ClientConfig
	endpoints []raftcore.Peer

	mu        sync.Mutex
	preferred int           // index of the endpoint that answered last
	leader    raftcore.Peer // the leader as last learnt, ID 0 if unknown
}

// Dial returns a client of the cluster whose members listen on endpoints,
// once one of them answered a Status call. It returns an error wrapping
// ErrInvalidConfig, ErrUnauthorized when the caller's credentials are
// refused, or ErrNoEndpoint when no endpoint answered before ctx is done
// or the retries ran out.
func Dial(ctx context.Context, endpoints []raftcore.Peer, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrInvalidConfig)
	}
	c := &Client{cfg: cfg.withDefaults(), endpoints: append([]raftcore.Peer(nil), endpoints...)}
	if _, err := c.read(ctx, request{Op: opStatus}); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseEndpoints parses a comma-separated list of endpoints, each
// "HOST:PORT", "KEY@HOST:PORT" or "ID=KEY@HOST:PORT" (KEY as FormatKey prints
// it). A key is needed to reach a node that proves its identity by a pinned
// key; in cluster-secret mode the address alone suffices.
func ParseEndpoints(s string) ([]raftcore.Peer, error) {
	var out []raftcore.Peer
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p raftcore.Peer
		if id, rest, ok := strings.Cut(part, "="); ok {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%w: endpoint %q: bad id", ErrInvalid, part)
			}
			p.ID, part = n, rest
		}
		if key, addr, ok := strings.Cut(part, "@"); ok {
			k, err := ParseKey(key)
			if err != nil {
				return nil, fmt.Errorf("endpoint %q: %w", part, err)
			}
			p.Key, part = k, addr
		}
		if !strings.Contains(part, ":") {
			return nil, fmt.Errorf("%w: endpoint %q: want HOST:PORT", ErrInvalid, part)
		}
		p.Addr = part
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no endpoints in %q", ErrInvalid, s)
	}
	return out, nil
}

// Status returns the cluster's status as the leader reports it (with every
// member's match index and lag), or, when the leader cannot be reached, as
// the first endpoint that answers reports it (Member.Progress false).
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.read(ctx, request{Op: opStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("%w: status response without a status", ErrProtocol)
	}
	st := *resp.Status
	if st.Leader == 0 || st.Leader == st.ID {
		return st, nil
	}
	for _, m := range st.Members {
		if m.ID == st.Leader {
			if lst, err := c.NodeStatus(ctx, raftcore.Peer{ID: m.ID, Addr: m.Address, Key: m.Key}); err == nil && lst.Role == "leader" {
				return lst, nil
			}
		}
	}
	return st, nil
}

// NodeStatus returns the status of the node at endpoint, whatever its role.
func (c *Client) NodeStatus(ctx context.Context, endpoint raftcore.Peer) (Status, error) {
	resp, err := c.roundTrip(ctx, endpoint, request{Op: opStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("%w: status response without a status", ErrProtocol)
	}
	return *resp.Status, nil
}

// MemberList returns the members as the leader sees them, or as any node
// does when the leader cannot be reached.
func (c *Client) MemberList(ctx context.Context) ([]Member, error) {
	st, err := c.Status(ctx)
	return st.Members, err
}

// MemberAdd adds a member with raft id id, listening on address, proving key
// (nil when members authenticate by cluster secret), as a learner or a
// voter. It returns once the change is applied on the leader. Errors:
// ErrConflict (the id is or was a member, another change is in progress),
// ErrUnauthorized, ErrUnavailable (also when the request reached a node but
// no answer came back: the change may have been made, and is not sent
// again; check with Status), ErrNotLeader when the leader could not be
// reached, ErrNoEndpoint, the context's error.
func (c *Client) MemberAdd(ctx context.Context, id uint64, address string, key []byte, learner bool) error {
	_, err := c.mutate(ctx, request{Op: opMemberAdd, ID: id, Address: address, Key: key, Learner: learner})
	return err
}

// MemberPromote makes learner id a voter. Errors as MemberAdd, and
// ErrNotFound if id is not a learner.
func (c *Client) MemberPromote(ctx context.Context, id uint64) error {
	_, err := c.mutate(ctx, request{Op: opMemberPromote, ID: id})
	return err
}

// MemberRemove removes member id, which may be the leader: it hands
// leadership to its most caught-up voter first, and the new leader removes
// it. A removed id can never be added again. Errors as MemberAdd, and
// ErrNotFound if id is not a member.
func (c *Client) MemberRemove(ctx context.Context, id uint64) error {
	_, err := c.mutate(ctx, request{Op: opMemberRemove, ID: id})
	return err
}

// LeaderTransfer hands leadership to voter to, or, when to is 0, to the
// voter with the highest match index, and returns the new leader's id once
// it leads. Raft abandons a transfer whose target does not catch up within
// an election timeout (a busy leader keeps appending); since asking again
// is harmless, a transfer that failed as unavailable is retried, up to
// MaxRetries times. Errors as MemberAdd, and ErrNotFound if to is not a
// voter.
func (c *Client) LeaderTransfer(ctx context.Context, to uint64) (uint64, error) {
	var resp response
	var err error
	for attempt := 0; attempt < c.cfg.MaxRetries; attempt++ {
		if attempt > 0 {
			if err := c.pause(ctx, attempt-1); err != nil {
				return 0, err
			}
		}
		resp, err = c.mutate(ctx, request{Op: opLeaderTransfer, ID: to})
		if err == nil || !errors.Is(err, ErrUnavailable) {
			break
		}
	}
	c.setLeader(raftcore.Peer{})
	if err != nil {
		return 0, err
	}
	return resp.Leader, nil
}

// Snapshot makes the first endpoint that answers take a snapshot now, and
// returns that node's id and the snapshot's log index.
func (c *Client) Snapshot(ctx context.Context) (node, index uint64, err error) {
	resp, err := c.first(ctx, request{Op: opSnapshot}, false)
	return resp.Node, resp.Index, err
}

// Health returns the health checks of the node at endpoint.
func (c *Client) Health(ctx context.Context, endpoint raftcore.Peer) ([]HealthCheck, error) {
	resp, err := c.roundTrip(ctx, endpoint, request{Op: opHealth})
	return resp.Health, err
}

// Endpoints returns the endpoints the client was given.
func (c *Client) Endpoints() []raftcore.Peer { return append([]raftcore.Peer(nil), c.endpoints...) }

// EventsOptions selects the events of a Client.Events call.
type EventsOptions struct {
	// Since resumes after the cluster event with this Seq: every later
	// cluster event is delivered exactly once, in order, from whichever
	// endpoint serves the stream. 0 starts with the history the node holds
	// (node events included); if the stream then moves to another node,
	// that node's history of cluster events is replayed, and its node
	// events are sent live only.
	Since uint64
	// Follow keeps the stream open for new events, moving to another
	// endpoint (resuming after the last cluster event delivered) when a node
	// stops or cannot serve the stream. Without it, Events returns once the
	// node's history is replayed.
	Follow bool
}

// Events calls fn for each event until fn returns an error (which Events
// returns), ctx is done, or, without opts.Follow, the history is replayed.
//
// Cluster events (Seq > 0) are membership changes, numbered by their log
// index, which every node reports alike: a stream that moves to another
// node resumes after the last Seq delivered and misses none and repeats
// none. Node events (Seq 0) are what the serving node saw; after a move the
// new node's are delivered from then on.
func (c *Client) Events(ctx context.Context, opts EventsOptions, fn func(Event) error) error {
	since := opts.Since
	delivered := false
	count := func(ev Event) error {
		delivered = true
		return fn(ev)
	}
	var lastErr error
	failures := 0 // since the last stream that was established
	for attempt := 0; ; attempt++ {
		endpoint := c.endpoint(attempt)
		req := request{Op: opEvents, Since: since, Follow: opts.Follow, Resumed: delivered}
		done, established, err := c.eventsFrom(ctx, endpoint, req, &since, count)
		if done {
			return err
		}
		lastErr = err
		c.cfg.Logger.Debug("event stream ended", "endpoint", endpoint.Addr, "err", err, "since", since)
		if established {
			failures = 0
			continue // at once, on the next endpoint
		}
		failures++
		if failures >= len(c.endpoints)*c.cfg.MaxRetries {
			return fmt.Errorf("%w: %w", ErrNoEndpoint, lastErr)
		}
		if failures%len(c.endpoints) == 0 {
			if err := c.pause(ctx, failures/len(c.endpoints)-1); err != nil {
				return err
			}
		}
	}
}

// eventsFrom runs one event stream. done reports that the call is over
// (successfully, by fn's error or the context); otherwise the stream should
// resume elsewhere after *since. established reports that the server
// accepted the stream.
func (c *Client) eventsFrom(ctx context.Context, endpoint raftcore.Peer, req request, since *uint64, fn func(Event) error) (done, established bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.cfg.Transport.OpenStream(ctx, endpoint, Protocol)
	if err != nil {
		return ctx.Err() != nil, false, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	frame, err := encodeFrame(kindRequest, req)
	if err != nil {
		return true, false, err
	}
	if _, err := st.Write(frame); err != nil {
		return ctx.Err() != nil, false, err
	}
	fr := newFrameReader(st, c.cfg.MaxFrameSize)
	var first response
	if err := fr.read(kindResponse, &first); err != nil {
		return ctx.Err() != nil, false, c.ctxErr(ctx, err)
	}
	if err := first.err(); err != nil {
		return !retryable(err), false, err
	}
	for {
		kind, payload, err := fr.readAny()
		if err != nil {
			if ctx.Err() != nil {
				return true, true, ctx.Err()
			}
			return false, true, err
		}
		switch kind {
		case kindResponse:
			var end response
			if err := decodePayload(payload, kindResponse, &end); err != nil {
				return false, true, err
			}
			if err := end.err(); err != nil {
				return !retryable(err), true, err
			}
			return true, true, nil
		case kindEvent:
			var ev Event
			if err := decodePayload(payload, kindEvent, &ev); err != nil {
				return false, true, err
			}
			if ev.Cluster() {
				if ev.Seq <= *since {
					continue
				}
				*since = ev.Seq
			}
			if err := fn(ev); err != nil {
				return true, true, err
			}
		default:
			return false, true, fmt.Errorf("%w: frame kind %d in an event stream", ErrProtocol, kind)
		}
	}
}

// read runs an idempotent call on the first endpoint that answers, retrying
// on the others.
func (c *Client) read(ctx context.Context, req request) (response, error) {
	return c.first(ctx, req, true)
}

// first runs req on the endpoints in turn until one answers. Only when
// retry is set does it try again after a call that reached a node and
// failed as unavailable.
func (c *Client) first(ctx context.Context, req request, retry bool) (response, error) {
	var lastErr error
	for attempt := 0; attempt < len(c.endpoints)*c.cfg.MaxRetries; attempt++ {
		if attempt > 0 && attempt%len(c.endpoints) == 0 {
			if err := c.pause(ctx, attempt/len(c.endpoints)-1); err != nil {
				return response{}, err
			}
		}
		endpoint := c.endpoint(attempt)
		resp, err := c.roundTrip(ctx, endpoint, req)
		if err == nil {
			c.prefer(endpoint)
			return resp, nil
		}
		lastErr = err
		c.cfg.Logger.Debug("call failed", "op", req.Op, "endpoint", endpoint.Addr, "err", err)
		var re *RemoteError
		if ctx.Err() != nil || errors.As(err, &re) && (!retry || !retryable(err)) {
			return response{}, err
		}
	}
	return response{}, fmt.Errorf("%w: %s: %w", ErrNoEndpoint, req.Op, lastErr)
}

// mutate runs req on the leader, following not-leader answers.
//
// A request that went out without an answer (the node stopped, the
// connection broke) may or may not have been applied. Every mutating
// operation names the state it wants (member 4 exists, is a voter, is gone;
// node 4 leads), so the client asks again, and when the second answer is a
// conflict or not-found it checks whether the wanted state holds: if it
// does, the first request did its work.
func (c *Client) mutate(ctx context.Context, req request) (response, error) {
	var lastErr error
	attempt := 0
	unknown := false
	// Each round may try every endpoint and follow a few redirections.
	for hop := 0; hop < (len(c.endpoints)+3)*c.cfg.MaxRetries; hop++ {
		c.mu.Lock()
		target := c.leader
		c.mu.Unlock()
		if target.Addr == "" {
			target = c.endpoint(attempt)
			attempt++
		}
		resp, err := c.roundTrip(ctx, target, req)
		if err == nil {
			c.setLeader(target)
			return resp, nil
		}
		lastErr = err
		c.cfg.Logger.Debug("call failed", "op", req.Op, "endpoint", target.Addr, "err", err)
		if ctx.Err() != nil {
			if unknown {
				return response{}, fmt.Errorf("%w: %s: outcome unknown: %w", ErrUnavailable, req.Op, err)
			}
			return response{}, err
		}
		var nl *NotLeaderError
		var re *RemoteError
		var notSent errNotSent
		switch {
		case errors.As(err, &nl) && nl.LeaderAddr != "" && nl.LeaderAddr != target.Addr:
			c.setLeader(raftcore.Peer{ID: nl.LeaderID, Addr: nl.LeaderAddr, Key: nl.LeaderKey})
			continue
		case errors.As(err, &nl):
			// No leader known yet (an election): wait, then ask around.
			c.setLeader(raftcore.Peer{})
		case errors.As(err, &re):
			if unknown && (errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound)) && c.holds(ctx, req) {
				return response{}, nil
			}
			return response{}, err
		case errors.As(err, &notSent):
			// Not reached: forget the leader, try the next endpoint.
			c.setLeader(raftcore.Peer{})
		default:
			// Sent, but no answer: ask again (see above).
			unknown = true
			c.setLeader(raftcore.Peer{})
		}
		if attempt%len(c.endpoints) == 0 || errors.As(err, &nl) {
			if err := c.pause(ctx, hop/len(c.endpoints)); err != nil {
				return response{}, err
			}
		}
	}
	if unknown {
		return response{}, fmt.Errorf("%w: %s: outcome unknown: %w", ErrUnavailable, req.Op, lastErr)
	}
	return response{}, lastErr
}

// holds reports whether the state a membership request asks for holds now.
func (c *Client) holds(ctx context.Context, req request) bool {
	st, err := c.Status(ctx)
	if err != nil {
		return false
	}
	var m *Member
	for i := range st.Members {
		if st.Members[i].ID == req.ID {
			m = &st.Members[i]
		}
	}
	switch req.Op {
	case opMemberAdd:
		return m != nil && m.Address == req.Address
	case opMemberPromote:
		return m != nil && m.Role == RoleVoter
	case opMemberRemove:
		return m == nil
	}
	return false
}

// errNotSent marks a call that failed before its request reached the
// server: retrying it anywhere is safe.
type errNotSent struct{ error }

func (e errNotSent) Unwrap() error { return e.error }

// roundTrip runs one call on one endpoint. A failure before the request was
// written is an errNotSent; after, the outcome of a mutating call is
// unknown.
func (c *Client) roundTrip(ctx context.Context, endpoint raftcore.Peer, req request) (response, error) {
	frame, err := encodeFrame(kindRequest, req)
	if err != nil {
		return response{}, err
	}
	st, err := c.cfg.Transport.OpenStream(ctx, endpoint, Protocol)
	if err != nil {
		return response{}, errNotSent{fmt.Errorf("mgmt: %s on %s: %w", req.Op, endpoint.Addr, err)}
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { st.Close() })
	defer stop()
	if _, err := st.Write(frame); err != nil {
		return response{}, c.ctxErr(ctx, fmt.Errorf("mgmt: %s on %s: %w", req.Op, endpoint.Addr, err))
	}
	// The server may answer, and close its side, as soon as it has read the
	// request: ending ours can then fail, and the answer still counts.
	_ = st.CloseWrite()
	var resp response
	if err := newFrameReader(st, c.cfg.MaxFrameSize).read(kindResponse, &resp); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return response{}, c.ctxErr(ctx, fmt.Errorf("mgmt: %s on %s: %w", req.Op, endpoint.Addr, err))
	}
	return resp, resp.err()
}

// err returns the Go error of a response's error, or nil.
func (r response) err() error {
	e := r.Error
	if e == nil {
		return nil
	}
	if e.Code == CodeNotLeader {
		return &NotLeaderError{LeaderID: e.LeaderID, LeaderAddr: e.LeaderAddr, LeaderKey: e.LeaderKey}
	}
	return &RemoteError{Code: e.Code, Message: e.Message, Node: r.Node}
}

// retryable reports whether a call that failed with err may succeed on
// another node or later.
func retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrInternal)
}

// ctxErr prefers the context's error when the context ended the call.
func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func (c *Client) endpoint(attempt int) raftcore.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints[(c.preferred+attempt)%len(c.endpoints)]
}

func (c *Client) prefer(p raftcore.Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.endpoints {
		if e.Addr == p.Addr {
			c.preferred = i
		}
	}
}

func (c *Client) setLeader(p raftcore.Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = p
}

// pause waits before the next round of attempts.
func (c *Client) pause(ctx context.Context, round int) error {
	d := min(c.cfg.RetryBackoff<<min(round, 10), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
