package raftcore

import (
	"context"
	"fmt"
	"sync"
)

// EventType names what happened in an Event.
type EventType int

const (
	// EventLeaderElected: a leader became known for Term (Leader is its id).
	// On the new leader it comes before the EventRoleChanged to RoleLeader,
	// and IsLeader may still be false when it is received: start leader-only
	// work on the role change.
	EventLeaderElected EventType = iota + 1
	// EventTermChanged: this node moved to a new Term.
	EventTermChanged
	// EventRoleChanged: this node's Role changed. IsLeader and Status
	// already report the new role when it is published.
	EventRoleChanged
	// EventMemberAdded: Member joined as Role (voter or learner), or a learner
	// was promoted (Role voter).
	EventMemberAdded
	// EventMemberRemoved: Member was removed.
	EventMemberRemoved
	// EventSnapshotCreated: this node wrote a snapshot at Index.
	EventSnapshotCreated
	// EventSnapshotInstalled: this node restored a snapshot at Index received
	// from the leader.
	EventSnapshotInstalled
	// EventsLost: the subscriber was too slow and Lost events were dropped.
	EventsLost
	// EventMemberUpdated: Member's address or key changed (UpdateMember,
	// BindMemberKey).
	EventMemberUpdated
)

func (t EventType) String() string {
	switch t {
	case EventLeaderElected:
		return "LeaderElected"
	case EventTermChanged:
		return "TermChanged"
	case EventRoleChanged:
		return "RoleChanged"
	case EventMemberAdded:
		return "MemberAdded"
	case EventMemberRemoved:
		return "MemberRemoved"
	case EventSnapshotCreated:
		return "SnapshotCreated"
	case EventSnapshotInstalled:
		return "SnapshotInstalled"
	case EventsLost:
		return "EventsLost"
	case EventMemberUpdated:
		return "MemberUpdated"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is something that happened on this node. Only the fields relevant to
// Type are set.
type Event struct {
	Type   EventType
	NodeID uint64 // the node that observed the event
	Term   uint64
	Leader uint64
	Role   Role
	Member Peer
	Index  uint64
	Lost   int
}

func (e Event) String() string {
	switch e.Type {
	case EventLeaderElected:
		return fmt.Sprintf("%v leader=%d term=%d", e.Type, e.Leader, e.Term)
	case EventTermChanged:
		return fmt.Sprintf("%v term=%d", e.Type, e.Term)
	case EventRoleChanged:
		return fmt.Sprintf("%v role=%v term=%d", e.Type, e.Role, e.Term)
	case EventMemberAdded, EventMemberRemoved:
		return fmt.Sprintf("%v member=%v role=%v", e.Type, e.Member, e.Role)
	case EventMemberUpdated:
		return fmt.Sprintf("%v member=%v key=%x", e.Type, e.Member, e.Member.Key)
	case EventSnapshotCreated, EventSnapshotInstalled:
		return fmt.Sprintf("%v index=%d", e.Type, e.Index)
	case EventsLost:
		return fmt.Sprintf("%v lost=%d", e.Type, e.Lost)
	}
	return e.Type.String()
}

// eventBus fans events out to subscribers without ever blocking the
// publisher: a subscriber whose buffer is full loses events and is told how
// many with an EventsLost event once it has room again.
type eventBus struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch   chan Event
	lost int
}

const subscriberBuffer = 256

func newEventBus() *eventBus { return &eventBus{subs: map[*subscriber]struct{}{}} }

func (b *eventBus) subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, subscriberBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.ch)
		return s.ch
	}
	b.subs[s] = struct{}{}
	if ctx.Done() != nil {
		context.AfterFunc(ctx, func() { b.unsubscribe(s) })
	}
	return s.ch
}

func (b *eventBus) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

func (b *eventBus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.lost > 0 {
			select {
			case s.ch <- Event{Type: EventsLost, NodeID: ev.NodeID, Lost: s.lost}:
				s.lost = 0
			default:
				s.lost++
				continue
			}
		}
		select {
		case s.ch <- ev:
		default:
			s.lost++
		}
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}
