package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// DefaultRetryInterval is the pause between two rounds of a join, a
// promotion request or a formation probe.
const DefaultRetryInterval = 500 * time.Millisecond

// JoinConfig configures Join.
type JoinConfig struct {
	// Transport carries the joining node's identity (and cluster secret).
	// Required.
	Transport raftcore.StreamTransport
	// Self is the joining node: the id it asks for (a ticket's id wins)
	// and the address members reach it at. Addr is required.
	Self raftcore.Peer
	// Ticket is the join ticket's printable form. Without one the node
	// joins as an authorized peer (ServerConfig.Authorized).
	Ticket string
	// Endpoints are members to ask. Default: the ticket's addresses.
	Endpoints []raftcore.Peer
	// RetryInterval is the pause between rounds over the endpoints.
	// Default: DefaultRetryInterval.
	RetryInterval time.Duration
	// ClusterSecret, when set, is checked against the ticket before any
	// member is asked: a ticket of another cluster fails at once with
	// ErrTicketForeign.
	ClusterSecret []byte
	// IdentityRefused, when set, tells the transport's refusals of this
	// node's identity (transport-quic's ErrUntrustedPeer) from other
	// failures. Members holding the same cluster secret refuse a joining
	// node's identity only when its id is, or was, a member under another
	// key, so with a ticket such a refusal ends the join with
	// ErrTicketUsed instead of retrying.
	IdentityRefused func(error) bool
	// Logger receives a line per failed round. Default: discard.
	Logger *slog.Logger
}

// Join asks the cluster to add this node as a learner and returns the
// members once it is one (the node then starts with an empty log and
// raft.Config.Join, and is caught up by the leader). It follows redirections
// to the leader and retries unavailable clusters until ctx ends. A refused
// ticket ends it at once with an error wrapping ErrTicketForged,
// ErrTicketExpired, ErrTicketUsed or ErrTicketForeign; ErrUnauthorized and
// ErrInvalid end it as well.
func Join(ctx context.Context, cfg JoinConfig) ([]raftcore.Peer, error) {
	if cfg.Transport == nil || cfg.Self.Addr == "" {
		return nil, fmt.Errorf("%w: JoinConfig needs Transport and Self.Addr", ErrInvalid)
	}
	req := request{Op: opJoin, From: cfg.Self.ID, Addr: cfg.Self.Addr, Ticket: cfg.Ticket}
	endpoints := cfg.Endpoints
	if cfg.Ticket != "" {
		t, err := ParseTicket(cfg.Ticket)
		if err != nil {
			return nil, err
		}
		if cfg.Self.ID != 0 && cfg.Self.ID != t.NodeID {
			return nil, fmt.Errorf("%w: the ticket grants node id %d, this node is %d", ErrInvalid, t.NodeID, cfg.Self.ID)
		}
		req.From = t.NodeID
		if cfg.ClusterSecret != nil && ClusterID(cfg.ClusterSecret) != t.ClusterID {
			return nil, fmt.Errorf("%w: ticket for cluster %s, this node's secret is cluster %s's", ErrTicketForeign, t.ClusterID, ClusterID(cfg.ClusterSecret))
		}
		if len(endpoints) == 0 {
			for _, a := range t.Addrs {
				endpoints = append(endpoints, raftcore.Peer{Addr: a})
			}
		}
	}
	if req.From == 0 || len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: a join needs a node id and members to ask", ErrInvalid)
	}
	interval := cfg.RetryInterval
	if interval == 0 {
		interval = DefaultRetryInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var last error
	for {
		for _, ep := range endpoints {
			resp, err := callFollowingLeader(ctx, cfg.Transport, ep, req)
			if err == nil {
				return peersOf(resp.Members), nil
			}
			if permanent(err) {
				return nil, err
			}
			if cfg.Ticket != "" && cfg.IdentityRefused != nil && cfg.IdentityRefused(err) {
				return nil, fmt.Errorf("%w: member %s refuses node id %d for this node's key: the id is, or was, a member's (%w)", ErrTicketUsed, ep.Addr, req.From, err)
			}
			last = err
			log.Info("join: member did not add this node yet", "member", ep.Addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("discovery: join: %w (last answer: %w)", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// permanent reports whether err ends a join or promotion: asking again
// cannot change the answer.
func permanent(err error) bool {
	for _, e := range []error{ErrTicketForged, ErrTicketExpired, ErrTicketUsed, ErrTicketForeign, ErrUnauthorized, ErrInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// callFollowingLeader calls ep and, if it names a leader, the leader.
func callFollowingLeader(ctx context.Context, tr raftcore.StreamTransport, ep raftcore.Peer, req request) (response, error) {
	resp, err := call(ctx, tr, ep, req)
	var nl *NotLeaderError
	if errors.As(err, &nl) && nl.LeaderAddr != "" {
		return call(ctx, tr, raftcore.Peer{ID: nl.LeaderID, Addr: nl.LeaderAddr, Key: nl.LeaderKey}, req)
	}
	return resp, err
}

// PromoteConfig configures Promote.
type PromoteConfig struct {
	// Transport carries the node's identity. Required.
	Transport raftcore.StreamTransport
	// Node is the running learner. Required.
	Node mgmt.Node
	// Ticket is the voter ticket the node joined with; empty for a node
	// formed by bootstrap-expect (an authorized peer).
	Ticket string
	// RetryInterval is the pause between two requests. Default:
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// Logger receives a line when the node becomes a voter. Default: discard.
	Logger *slog.Logger
}

// Promote asks the leader, again and again, to make this learner a voter,
// until it is one (nil) or ctx ends. The leader's autopilot decides when
// (AutopilotConfig). It returns at once an error wrapping ErrUnauthorized
// when the cluster refuses (no voter ticket, automatic promotion off).
func Promote(ctx context.Context, cfg PromoteConfig) error {
	if cfg.Transport == nil || cfg.Node == nil {
		return fmt.Errorf("%w: PromoteConfig needs Transport and Node", ErrInvalid)
	}
	interval := cfg.RetryInterval
	if interval == 0 {
		interval = DefaultRetryInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self := cfg.Node.ID()
	for {
		st := cfg.Node.Status()
		var leader raftcore.Peer
		for _, m := range st.Members {
			if m.ID == self && m.Role == raftcore.MemberVoter {
				log.Info("this node is a voter", "node", self)
				return nil
			}
			if m.ID == st.Leader {
				leader = m.Peer
			}
		}
		if leader.Addr != "" {
			_, err := callFollowingLeader(ctx, cfg.Transport, leader, request{Op: opPromote, From: self, Ticket: cfg.Ticket})
			if err != nil && permanent(err) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// AnnounceAddress makes the membership record addr as the address of node,
// a member that restarted on another address than the one its peers know:
// it asks the members it knows (they still reach the leader, which records
// the change through the log) until node's own membership shows addr, or
// ctx ends. The node is recognised by its key, not its address. A node
// whose membership already has addr returns at once; one that is not (yet)
// in its own membership waits for it (a node restarting replays its log).
func AnnounceAddress(ctx context.Context, tr raftcore.StreamTransport, node mgmt.Node, addr string, interval time.Duration) error {
	if interval == 0 {
		interval = DefaultRetryInterval
	}
	self := node.ID()
	for {
		st := node.Status()
		var others []raftcore.Peer
		known, moved := false, false
		for _, m := range st.Members {
			switch {
			case m.ID == self:
				known, moved = true, !listensAt(addr, m.Addr)
			case m.ID == st.Leader:
				others = append([]raftcore.Peer{m.Peer}, others...)
			default:
				others = append(others, m.Peer)
			}
		}
		if known && !moved {
			return nil
		}
		for _, p := range others {
			if !known {
				break
			}
			if _, err := callFollowingLeader(ctx, tr, p, request{Op: opAddress, From: self, Addr: addr}); err == nil {
				break
			} else if permanent(err) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
