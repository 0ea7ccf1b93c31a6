package transportmem

import (
	"sort"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// link carries the messages of one transport to one peer: a bounded queue
// ordered by due time, drained by run.
type link struct {
	t     *Transport
	to    uint64
	stats *linkState
	wake  chan struct{} // capacity 1: a message was queued or the link stopped

	mu      sync.Mutex
	peer    raftcore.Peer
	queue   messageQueue
	stopped bool
}

type queuedMessage struct {
	msg  *raftpb.Message
	due  time.Time // zero: deliver as soon as possible
	hold bool      // the Reorder fault picked it to be overtaken
}

func newLink(t *Transport, p raftcore.Peer) *link {
	return &link{
		t:     t,
		to:    p.ID,
		stats: t.net.link(t.self.ID, p.ID),
		wake:  make(chan struct{}, 1),
		peer:  p,
	}
}

func (l *link) setPeer(p raftcore.Peer) {
	l.mu.Lock()
	l.peer = p
	l.mu.Unlock()
}

func (l *link) currentPeer() raftcore.Peer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peer
}

func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// enqueue applies the send-side faults to m and queues a clone of it.
func (l *link) enqueue(m *raftpb.Message) {
	l.stats.sent.Add(1)
	if !l.t.net.Reachable(l.t.self.ID, l.to) {
		l.stats.dropped.Add(1)
		l.t.reportUnreachable(l.to)
		return
	}
	f := l.stats.currentFaults()
	delay, copies, hold := f.Delay, 1, false
	if f.active() {
		l.stats.rngMu.Lock()
		rng := l.stats.rng
		drop := f.Drop > 0 && rng.Float64() < f.Drop
		if f.Duplicate > 0 && rng.Float64() < f.Duplicate {
			copies = 2
		}
		if f.Jitter > 0 {
			delay += time.Duration(rng.Int64N(int64(f.Jitter)))
		}
		hold = f.Reorder > 0 && rng.Float64() < f.Reorder
		l.stats.rngMu.Unlock()
		if drop {
			l.stats.dropped.Add(1)
			return
		}
	}
	if copies == 2 {
		l.stats.duplicated.Add(1)
	}
	clones := [2]*raftpb.Message{proto.CloneOf(m)}
	if copies == 2 {
		clones[1] = proto.CloneOf(m)
	}

	overflow := false
	l.mu.Lock()
	var due time.Time
	if delay > 0 {
		due = time.Now().Add(delay)
	}
	for i := range copies {
		if l.stopped || l.queue.len() >= l.t.net.cfg.QueueSize {
			l.stats.dropped.Add(1)
			overflow = true
			continue
		}
		l.queue.push(queuedMessage{msg: clones[i], due: due, hold: hold && i == 0})
	}
	l.mu.Unlock()
	if overflow {
		l.t.reportUnreachable(l.to)
	}
	l.signal()
}

// stop drops what is queued and makes run return.
func (l *link) stop() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		l.stats.dropped.Add(uint64(l.queue.len()))
		l.queue = messageQueue{}
	}
	l.mu.Unlock()
	l.signal()
}

// run delivers queued messages as they fall due, in batches of at most
// NetworkConfig.MaxBatch, until the link stops.
func (l *link) run() {
	maxBatch := l.t.net.cfg.MaxBatch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var (
		held      *raftpb.Message // a reordered message waiting to be overtaken
		heldUntil time.Time
		batch     []queuedMessage
	)
	for {
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			if held != nil {
				l.stats.dropped.Add(1)
			}
			return
		}
		now := time.Now()
		batch = batch[:0]
		for l.queue.len() > 0 && len(batch) < maxBatch && !l.queue.first().due.After(now) {
			batch = append(batch, l.queue.pop())
		}
		var next time.Time
		if l.queue.len() > 0 {
			next = l.queue.first().due
		}
		peer := l.peer
		l.mu.Unlock()

		// The receiver may keep the slice, so every delivery gets its own.
		out := make([]*raftpb.Message, 0, len(batch)+1)
		for _, qm := range batch {
			if qm.hold && held == nil {
				held, heldUntil = qm.msg, now.Add(l.stats.currentFaults().ReorderHold)
				continue
			}
			out = append(out, qm.msg)
			if held != nil {
				out = append(out, held)
				held = nil
			}
		}
		if held != nil && !now.Before(heldUntil) {
			out = append(out, held)
			held = nil
		}
		if len(out) > 0 {
			l.deliver(peer, out)
			continue
		}

		wakeAt := next
		if held != nil && (wakeAt.IsZero() || heldUntil.Before(wakeAt)) {
			wakeAt = heldUntil
		}
		if !wakeAt.IsZero() {
			timer.Reset(time.Until(wakeAt))
		}
		select {
		case <-l.wake:
		case <-timer.C:
		}
		if !wakeAt.IsZero() && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver hands msgs to the receiver's Handler, or drops them and reports
// the peer when it is cut off, down or not the node expected.
func (l *link) deliver(peer raftcore.Peer, msgs []*raftpb.Message) {
	rcv := l.t.net.resolve(peer.Addr)
	reachable := rcv != nil && rcv.self.ID == l.to && l.t.net.Reachable(l.t.self.ID, l.to)
	var h raftcore.Handler
	if reachable {
		h, reachable = rcv.enter(true)
	}
	if !reachable {
		l.stats.dropped.Add(uint64(len(msgs)))
		l.t.reportUnreachable(l.to)
		return
	}
	defer rcv.goroutines.Done()
	n := uint64(len(msgs))
	h.HandleMessages(msgs)
	l.stats.delivered.Add(n)
}

// messageQueue holds queued messages sorted by due time, in send order among
// equal due times. Without jitter, due times never decrease, so a push is an
// append; only jittered messages are inserted in the middle.
type messageQueue struct {
	items []queuedMessage // items[head:] are queued
	head  int
}

func (q *messageQueue) len() int { return len(q.items) - q.head }

func (q *messageQueue) first() *queuedMessage { return &q.items[q.head] }

func (q *messageQueue) push(m queuedMessage) {
	n := len(q.items)
	if n == q.head || !m.due.Before(q.items[n-1].due) {
		q.items = append(q.items, m)
		return
	}
	// The first position whose message is due strictly later keeps send
	// order among messages due at the same time.
	i := q.head + sort.Search(n-q.head, func(i int) bool { return q.items[q.head+i].due.After(m.due) })
	q.items = append(q.items, queuedMessage{})
	copy(q.items[i+1:], q.items[i:n])
	q.items[i] = m
}

func (q *messageQueue) pop() queuedMessage {
	m := q.items[q.head]
	q.items[q.head] = queuedMessage{}
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 64 && q.head*2 >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return m
}
