package mgmt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The design of event numbering is in doc.go ("Events and their sequence
// numbers").

// historyEntry is one event of a node's history, or a gap marker.
type historyEntry struct {
	ev Event
	// gapUntil, when not 0, marks a gap: cluster events up to and including
	// this Seq may be missing from the stream.
	gapUntil uint64
}

// history is a node's bounded event history, followed by streams.
type history struct {
	mu      sync.Mutex
	entries []historyEntry // entries[i] is at position base+i
	base    uint64
	limit   int
	// coveredFrom: every cluster event with Seq > coveredFrom was appended.
	coveredFrom uint64
	// evicted is the highest Seq of a cluster event evicted from entries.
	evicted uint64
	changed chan struct{} // closed and replaced on every append
	closed  bool
}

func newHistory(limit int) *history {
	return &history{limit: limit, changed: make(chan struct{})}
}

func (h *history) append(e historyEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return // the server closed; nothing follows the history
	}
	if e.gapUntil > h.coveredFrom {
		h.coveredFrom = e.gapUntil
	}
	h.entries = append(h.entries, e)
	if len(h.entries) > h.limit {
		drop := len(h.entries) - h.limit
		for _, old := range h.entries[:drop] {
			h.evicted = max(h.evicted, old.ev.Seq, old.gapUntil)
		}
		h.entries = append(h.entries[:0:0], h.entries[drop:]...)
		h.base += uint64(drop)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.changed)
	}
}

// cursor is one stream's position in a history.
type cursor struct {
	h       *history
	pos     uint64 // next position to read
	live    uint64 // positions from here on were appended after the stream began
	lastSeq uint64 // highest cluster Seq delivered
	// replayNodeEvents: node events from history are sent too (a stream
	// that starts afresh); otherwise only live ones.
	replayNodeEvents bool
}

// follow starts a stream. since > 0 resumes after cluster event since, and
// fails with ErrUnavailable when this node cannot promise every later one.
// A stream that does not resume (since 0, not resumed) replays node events
// from history too.
func (h *history) follow(since uint64, resumed bool) (*cursor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if since > 0 && (since < h.coveredFrom || since < h.evicted) {
		return nil, fmt.Errorf("%w: cannot resume after seq %d: this node holds cluster events after seq %d only",
			ErrUnavailable, since, max(h.coveredFrom, h.evicted))
	}
	end := h.base + uint64(len(h.entries))
	return &cursor{h: h, pos: h.base, live: end, lastSeq: since, replayNodeEvents: since == 0 && !resumed}, nil
}

// errEndOfHistory ends a stream that does not follow once the history it
// began with is replayed.
var errEndOfHistory = errors.New("mgmt: end of history")

// next returns the next event for the stream, waiting for one until ctx is
// done. Without follow it returns errEndOfHistory once the events held when
// the stream began are replayed. It fails with ErrUnavailable when the
// stream fell behind the history's bound or crossed a gap it had not
// passed, and with ErrClosed when the history closed.
func (c *cursor) next(ctx context.Context, follow bool) (Event, error) {
	for {
		if !follow && c.pos >= c.live {
			return Event{}, errEndOfHistory
		}
		c.h.mu.Lock()
		if c.pos < c.h.base {
			c.h.mu.Unlock()
			return Event{}, fmt.Errorf("%w: the stream fell behind this node's event history; resume after seq %d", ErrUnavailable, c.lastSeq)
		}
		if i := c.pos - c.h.base; i < uint64(len(c.h.entries)) {
			e := c.h.entries[i]
			c.h.mu.Unlock()
			c.pos++
			if e.gapUntil != 0 {
				if c.pos > c.live && c.lastSeq < e.gapUntil {
					return Event{}, fmt.Errorf("%w: this node lost events up to seq %d; resume after seq %d elsewhere", ErrUnavailable, e.gapUntil, c.lastSeq)
				}
				continue
			}
			if ev, ok := c.deliver(e.ev, c.pos > c.live); ok {
				return ev, nil
			}
			continue
		}
		changed, closed := c.h.changed, c.h.closed
		c.h.mu.Unlock()
		if closed {
			return Event{}, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// deliver filters one event: cluster events once each, in Seq order; node
// events live, or from history for a stream that does not resume.
func (c *cursor) deliver(ev Event, live bool) (Event, bool) {
	if ev.Cluster() {
		if ev.Seq <= c.lastSeq {
			return Event{}, false
		}
		c.lastSeq = ev.Seq
		return ev, true
	}
	return ev, live || c.replayNodeEvents
}

// pump moves the node's events into the history until ctx is done.
func (s *Server) pump(ctx context.Context, events <-chan raftcore.Event) {
	defer s.history.close()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			s.record(ev)
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) record(ev raftcore.Event) {
	now := time.Now().UTC()
	out := Event{Node: ev.NodeID, Time: now}
	switch ev.Type {
	case raftcore.EventMemberAdded, raftcore.EventMemberRemoved:
		out.Type = EventMemberAdded
		if ev.Type == raftcore.EventMemberRemoved {
			out.Type = EventMemberRemoved
		}
		m := Member{ID: ev.Member.ID, Address: ev.Member.Addr, Key: ev.Member.Key}
		if ev.Type == raftcore.EventMemberAdded {
			m.Role = RoleVoter
			if ev.Role == raftcore.RoleLearner {
				m.Role = RoleLearner
			}
		}
		out.Seq, out.Index, out.Member = ev.Index, ev.Index, &m
	case raftcore.EventLeaderElected:
		out.Type, out.Term, out.Leader = EventLeaderElected, ev.Term, ev.Leader
	case raftcore.EventRoleChanged:
		out.Type, out.Term, out.Role = EventRoleChanged, ev.Term, roleName(ev.Role)
	case raftcore.EventSnapshotCreated:
		out.Type, out.Index = EventSnapshotCreated, ev.Index
	case raftcore.EventSnapshotInstalled:
		// The entries the snapshot covers were never applied here one by
		// one: their membership events are missing.
		s.history.append(historyEntry{gapUntil: ev.Index})
		out.Type, out.Index = EventSnapshotInstalled, ev.Index
	case raftcore.EventsLost:
		// Events published before the next entry is applied were lost:
		// everything up to the applied index plus one may be missing.
		s.history.append(historyEntry{gapUntil: s.node.Status().AppliedIndex + 1})
		out.Type, out.Lost = EventsLost, ev.Lost
	default:
		return
	}
	s.history.append(historyEntry{ev: out})
}

func roleName(r raftcore.Role) string {
	switch r {
	case raftcore.RoleFollower:
		return "follower"
	case raftcore.RoleCandidate:
		return "candidate"
	case raftcore.RolePreCandidate:
		return "precandidate"
	case raftcore.RoleLeader:
		return "leader"
	case raftcore.RoleLearner:
		return "learner"
	}
	return "none"
}
