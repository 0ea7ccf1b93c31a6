package transportmem

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

var (
	_ raftcore.Transport       = (*Transport)(nil)
	_ raftcore.StreamTransport = (*Transport)(nil)
)

type transportState int

const (
	stateCreated transportState = iota
	stateStarted
	stateClosed
)

// maxPendingReports bounds the set of peers waiting to be reported
// unreachable; ids come from raft messages, so it is never reached in
// practice.
const maxPendingReports = 4096

// Transport is one node's endpoint on a Network. It implements
// raftcore.Transport and raftcore.StreamTransport.
//
// Every peer added with AddPeer gets a link: a bounded queue drained by a
// goroutine that applies the network's faults and calls the receiver's
// Handler. Receivers get clones of the messages sent, never the sender's
// objects.
type Transport struct {
	net  *Network
	self raftcore.Peer

	ctx    context.Context // cancelled by Close; parent of inbound handlers' contexts
	cancel context.CancelFunc
	done   chan struct{} // closed by Close

	mu      sync.RWMutex
	state   transportState
	handler raftcore.Handler
	links   map[uint64]*link
	streams map[string]raftcore.StreamHandler

	// goroutines counts the goroutines this transport owns and the calls
	// into its handlers in progress; Close waits for them.
	goroutines sync.WaitGroup

	reportMu     sync.Mutex
	pending      map[uint64]struct{}
	reportSignal chan struct{}
}

func newTransport(n *Network, p raftcore.Peer) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		net:          n,
		self:         p,
		ctx:          ctx,
		cancel:       cancel,
		done:         make(chan struct{}),
		links:        make(map[uint64]*link),
		streams:      make(map[string]raftcore.StreamHandler),
		pending:      make(map[uint64]struct{}),
		reportSignal: make(chan struct{}, 1),
	}
}

// Peer returns the Peer other nodes add to reach this transport.
func (t *Transport) Peer() raftcore.Peer {
	p := t.self
	p.Key = append([]byte(nil), p.Key...)
	return p
}

// Network returns the network the transport is on.
func (t *Transport) Network() *Network { return t.net }

// Start begins delivering inbound messages and snapshots to h. It returns
// ErrAlreadyStarted when called twice and an error wrapping raftcore.ErrClosed
// after Close.
func (t *Transport) Start(h raftcore.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil Handler", ErrInvalidConfig)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case stateClosed:
		return fmt.Errorf("transportmem: start %d: %w", t.self.ID, raftcore.ErrClosed)
	case stateStarted:
		return ErrAlreadyStarted
	}
	t.state = stateStarted
	t.handler = h
	t.goroutines.Add(1)
	go t.reportLoop(h)
	return nil
}

// Send queues each message on the link to its To peer and returns at once.
// A message to an unknown peer, or one that does not fit its link's queue, is
// dropped and the peer reported unreachable. Send does nothing after Close.
func (t *Transport) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.state == stateClosed {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		if l := t.links[to]; l != nil {
			l.enqueue(m)
			continue
		}
		stats := t.net.link(t.self.ID, to)
		stats.sent.Add(1)
		stats.dropped.Add(1)
		t.reportUnreachable(to)
	}
}

// AddPeer adds p, or updates its address and key. The peer need not be up.
// It returns an error wrapping ErrInvalidPeer for id 0 and one wrapping
// raftcore.ErrClosed after Close.
func (t *Transport) AddPeer(p raftcore.Peer) error {
	if p.ID == 0 {
		return fmt.Errorf("%w: id 0", ErrInvalidPeer)
	}
	p.Key = append([]byte(nil), p.Key...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == stateClosed {
		return fmt.Errorf("transportmem: add peer %d: %w", p.ID, raftcore.ErrClosed)
	}
	if l := t.links[p.ID]; l != nil {
		l.setPeer(p)
		return nil
	}
	l := newLink(t, p)
	t.links[p.ID] = l
	t.goroutines.Add(1)
	go func() {
		defer t.goroutines.Done()
		l.run()
	}()
	return nil
}

// RemovePeer forgets peer id and drops the messages queued to it. A delivery
// already in progress completes.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	l := t.links[id]
	delete(t.links, id)
	t.mu.Unlock()
	if l != nil {
		l.stop()
	}
}

// Close stops the transport: it frees its address, drops queued messages,
// aborts its streams and snapshots, and waits for its goroutines and for the
// calls into its Handler in progress. The Handler is not called after Close
// returns. Close is idempotent. It must not be called from within the
// Handler's methods, whose calls it waits for.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.state == stateClosed {
		t.mu.Unlock()
		return nil
	}
	t.state = stateClosed
	links := t.links
	t.links = nil
	t.mu.Unlock()

	t.net.unregister(t)
	t.cancel()
	for _, l := range links {
		l.stop()
	}
	t.net.abortConnsOf(t, fmt.Errorf("transportmem: transport %d closed: %w", t.self.ID, raftcore.ErrClosed))
	close(t.done)
	t.goroutines.Wait()
	return nil
}

// enter reserves a call into this transport's Handler (or a goroutine serving
// an inbound stream). It fails when the transport is not started (if
// needStarted) or is closed; otherwise the caller must call t.goroutines.Done.
func (t *Transport) enter(needStarted bool) (raftcore.Handler, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.state == stateClosed || needStarted && t.state != stateStarted {
		return nil, false
	}
	t.goroutines.Add(1)
	return t.handler, true
}

// remoteView describes p as seen from t: p itself when t has it as a peer at
// the same address, otherwise p without its id, as the contract of
// raftcore.Stream.Remote asks for a remote that is not a member.
func (t *Transport) remoteView(p raftcore.Peer) raftcore.Peer {
	p.Key = append([]byte(nil), p.Key...)
	t.mu.RLock()
	defer t.mu.RUnlock()
	if l := t.links[p.ID]; l != nil {
		known := l.currentPeer()
		if known.Addr == p.Addr && (len(known.Key) == 0 || bytes.Equal(known.Key, p.Key)) {
			return p
		}
	}
	p.ID = 0
	return p
}

// reportUnreachable queues a report for the handler; reports are delivered
// by reportLoop so that Send never calls back into the engine.
func (t *Transport) reportUnreachable(id uint64) {
	t.reportMu.Lock()
	if len(t.pending) < maxPendingReports {
		t.pending[id] = struct{}{}
	}
	t.reportMu.Unlock()
	select {
	case t.reportSignal <- struct{}{}:
	default:
	}
}

func (t *Transport) reportLoop(h raftcore.Handler) {
	defer t.goroutines.Done()
	var ids []uint64
	for {
		select {
		case <-t.done:
			return
		case <-t.reportSignal:
		}
		t.reportMu.Lock()
		for id := range t.pending {
			ids = append(ids, id)
		}
		clear(t.pending)
		t.reportMu.Unlock()
		for _, id := range ids {
			h.ReportUnreachable(id)
		}
		ids = ids[:0]
	}
}
