package transportquic

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/raftwire"
)

// peer holds what this node sends to one remote: two senders, each with a
// bounded queue drained by its own goroutine, and the connection they share.
type peer struct {
	t             *Transport
	id            uint64
	control, bulk *messageSender
	ctx           context.Context
	cancel        context.CancelFunc
	// snapshotting is set while a snapshot to this peer is being sent.
	snapshotting atomic.Bool

	mu       sync.Mutex
	info     raftcore.Peer
	conn     *quic.Conn
	dialing  chan struct{} // closed when the dial in progress ends
	failures int
	nextDial time.Time
}

// newPeer starts the sender goroutines of p. The caller holds t.mu and has
// checked that t is not closed.
func (t *Transport) newPeer(info raftcore.Peer) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{t: t, id: info.ID, info: info, ctx: ctx, cancel: cancel}
	p.control = &messageSender{p: p, q: newSendQueue(t.cfg.SendQueueSize, t.cfg.MaxQueueBytes)}
	p.bulk = &messageSender{p: p, q: newSendQueue(t.cfg.SendQueueSize, t.cfg.MaxQueueBytes)}
	t.wg.Add(2)
	go p.sendLoop(p.control)
	go p.sendLoop(p.bulk)
	return p
}

// enqueue sends m without blocking and reports whether it was taken: written
// to its stream at once when that is idle (trySend), queued otherwise.
func (p *peer) enqueue(m *raftpb.Message) bool {
	s := p.bulk
	if isControl(m) {
		s = p.control
	}
	size := raftwire.SizeMessage(m)
	if s.trySend(m, size) {
		return true
	}
	return s.q.push(m, size)
}

// sendQueue is a queue of messages bounded in count and in encoded bytes.
type sendQueue struct {
	ch       chan queuedMessage
	bytes    atomic.Int64
	maxBytes int64
	// pending counts messages pushed and not yet written or dropped by the
	// sender goroutine: while any is, a message may not overtake them.
	pending atomic.Int64
}

type queuedMessage struct {
	m    *raftpb.Message
	size int // raftwire.SizeMessage(m), computed once
}

func newSendQueue(count, maxBytes int) *sendQueue {
	return &sendQueue{ch: make(chan queuedMessage, count), maxBytes: int64(maxBytes)}
}

// push queues m, whose encoded size is size.
func (q *sendQueue) push(m *raftpb.Message, size int) bool {
	if q.bytes.Add(int64(size)) > q.maxBytes && len(q.ch) > 0 {
		q.bytes.Add(-int64(size))
		return false
	}
	q.pending.Add(1)
	select {
	case q.ch <- queuedMessage{m, size}:
		return true
	default:
		q.bytes.Add(-int64(size))
		q.pending.Add(-1)
		return false
	}
}

// pop returns the next message, without waiting when wait is false.
func (q *sendQueue) pop(ctx context.Context, wait bool) (queuedMessage, bool) {
	var qm queuedMessage
	if wait {
		select {
		case qm = <-q.ch:
		case <-ctx.Done():
			return qm, false
		}
	} else {
		select {
		case qm = <-q.ch:
		default:
			return qm, false
		}
	}
	q.bytes.Add(-int64(qm.size))
	return qm, true
}

// update switches p to a new address or key: the current connection is
// closed and the next send dials the new one at once.
func (p *peer) update(info raftcore.Peer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info = info
	p.failures = 0
	p.nextDial = time.Time{}
	if p.conn != nil {
		_ = p.conn.CloseWithError(codeNormal, "peer address or key changed")
		p.conn = nil
	}
}

func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.CloseWithError(codeRemoved, "peer removed")
		p.conn = nil
	}
}

// connection returns the live connection to p, dialling one if needed. While
// the redial backoff after a failure runs it fails at once with
// ErrPeerUnreachable, so callers drop rather than wait.
func (p *peer) connection(ctx context.Context) (*quic.Conn, error) {
	for {
		p.mu.Lock()
		if p.conn != nil && p.conn.Context().Err() == nil {
			c := p.conn
			p.mu.Unlock()
			return c, nil
		}
		p.conn = nil
		if wait := p.dialing; wait != nil {
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		if time.Now().Before(p.nextDial) {
			p.mu.Unlock()
			return nil, ErrPeerUnreachable
		}
		done := make(chan struct{})
		p.dialing = done
		info := p.info
		p.mu.Unlock()

		conn, _, err := p.t.dial(p.ctx, info, raftcore.ProtocolRaft)

		p.mu.Lock()
		p.dialing = nil
		close(done)
		switch {
		case err != nil:
			p.failures++
			p.nextDial = time.Now().Add(p.backoff())
		case p.ctx.Err() != nil || !sameEndpoint(info, p.info):
			// Removed or moved while dialling.
			_ = conn.CloseWithError(codeNormal, "peer changed")
			err = ErrPeerUnreachable
		default:
			p.failures = 0
			p.conn = conn
		}
		p.mu.Unlock()
		if err != nil {
			p.t.log.Debug("dial failed", "peer", info, "error", err)
		}
		return conn, err
	}
}

// discard closes conn if it is still p's connection, so the next send dials
// a fresh one.
func (p *peer) discard(conn *quic.Conn, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == conn {
		p.conn = nil
	}
	_ = conn.CloseWithError(codeNormal, reason)
}

// backoff returns the delay before the next dial: exponential in the number
// of consecutive failures, with full jitter over its upper half so peers that
// failed together do not retry together.
func (p *peer) backoff() time.Duration {
	d := p.t.cfg.MinRedialDelay
	for i := 1; i < p.failures && d < p.t.cfg.MaxRedialDelay; i++ {
		d *= 2
	}
	d = min(d, p.t.cfg.MaxRedialDelay)
	return d/2 + rand.N(d/2+1)
}

func sameEndpoint(a, b raftcore.Peer) bool {
	return a.Addr == b.Addr && string(a.Key) == string(b.Key)
}

// resetBackoff lets the next send dial at once. It is called when the peer
// has just connected to this node: it is evidently up again, and a restarted
// node must not wait out a backoff that grew while it was down.
func (p *peer) resetBackoff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = 0
	p.nextDial = time.Time{}
}

// sendLoop drains q into batches and writes each batch as one frame on its
// own stream. The control loop connects at once, before it has anything to
// send: a node that starts (or restarts) announces itself to its peers, which
// then stop backing off from it.
func (p *peer) sendLoop(s *messageSender) {
	defer p.t.wg.Done()
	q := s.q
	defer func() {
		s.mu.Lock()
		s.closeStream()
		s.mu.Unlock()
	}()
	if s == p.control {
		s.mu.Lock()
		_ = s.openStream() // on failure, the first send tries again
		s.mu.Unlock()
	}
	var batch []*raftpb.Message
	var sizes []int
	var carry queuedMessage
	for {
		next := carry
		if next.m != nil {
			carry = queuedMessage{}
		} else if next, _ = q.pop(p.ctx, true); next.m == nil {
			return
		}
		batch, sizes = batch[:0], sizes[:0]
		total := 0
		s.mu.Lock()
		for ok := true; ok; next, ok = q.pop(p.ctx, false) {
			m, size := next.m, next.size
			if size > p.t.cfg.MaxFrameSize-10 {
				q.pending.Add(-1)
				p.t.stats.messagesDropped.Add(1)
				p.t.log.Warn("dropped message larger than MaxFrameSize", "peer", p.id, "type", m.GetType(), "size", size)
				p.t.reportUnreachable(p.id)
			} else if len(batch) > 0 && total+size > p.t.cfg.MaxBatchBytes {
				carry = next
				break
			} else {
				batch = append(batch, m)
				sizes = append(sizes, size)
				total += size + 10
			}
			if len(batch) == maxMessagesPerFrame {
				break
			}
		}
		if len(batch) > 0 {
			s.send(batch, sizes)
			q.pending.Add(-int64(len(batch)))
		}
		s.mu.Unlock()
		clear(batch)
	}
}

// messageSender owns one message stream. Its sender goroutine writes what
// is queued; trySend lets the caller write instead while nothing is queued.
type messageSender struct {
	p *peer
	q *sendQueue
	// mu guards the fields below: the sender goroutine holds it while it
	// opens, writes or closes the stream, trySend only if it is free.
	mu     sync.Mutex
	conn   *quic.Conn
	stream *quic.Stream
	fw     *codec.FrameWriter
	buf    []byte
	direct []byte // trySend's frame
}

// trySend writes m to the stream on the caller's goroutine, without
// waiting for anything, and reports whether it did. It does so only when no
// queued message is waiting (so m overtakes none), the stream is open and
// not in use, and quic-go can take the whole frame at once (flow control
// never makes the caller wait). That spares a message the hand-off to the
// sender goroutine, one scheduling delay on every hop.
func (s *messageSender) trySend(m *raftpb.Message, size int) bool {
	if s.q.pending.Load() != 0 || !s.mu.TryLock() {
		return false
	}
	defer s.mu.Unlock()
	if s.q.pending.Load() != 0 || s.stream == nil || s.conn.Context().Err() != nil {
		return false
	}
	if size > s.p.t.cfg.MaxFrameSize-10 {
		return false // the sender goroutine drops and reports it
	}
	payload, err := appendMessage(s.buf[:0], m, size)
	if err != nil {
		return false
	}
	s.direct = codec.AppendFrame(s.direct[:0], payload)
	s.buf = payload[:0]
	if cap(s.direct) > maxRetainedBuffer {
		defer func() { s.direct = nil }()
	}
	if s.stream.TryWriteAll(s.direct) != nil {
		return false // would block, or a broken stream the sender handles
	}
	s.p.t.stats.messagesSent.Add(1)
	s.p.t.stats.messagesDirect.Add(1)
	return true
}

// maxRetainedBuffer is the largest encode buffer kept between batches; a
// rare huge message does not pin its memory for the life of the peer.
const maxRetainedBuffer = 4 << 20

func (s *messageSender) send(batch []*raftpb.Message, sizes []int) {
	t := s.p.t
	buf := s.buf[:0]
	var err error
	for i, m := range batch {
		if buf, err = appendMessage(buf, m, sizes[i]); err != nil {
			break
		}
	}
	if cap(buf) <= maxRetainedBuffer {
		s.buf = buf[:0]
	} else {
		s.buf = nil
	}
	if err == nil {
		err = s.write(buf)
	}
	if err != nil {
		t.stats.messagesDropped.Add(uint64(len(batch)))
		t.reportUnreachable(s.p.id)
		return
	}
	t.stats.messagesSent.Add(uint64(len(batch)))
}

func (s *messageSender) write(payload []byte) error {
	if err := s.openStream(); err != nil {
		return err
	}
	_ = s.stream.SetWriteDeadline(time.Now().Add(s.p.t.cfg.WriteTimeout))
	if err := s.fw.WriteFrame(payload); err != nil {
		// A peer that does not take a frame in time, or a broken stream:
		// start over on a fresh connection.
		s.stream.CancelWrite(codeCanceled)
		s.p.discard(s.conn, "write failed")
		s.stream, s.conn = nil, nil
		return err
	}
	return nil
}

func (s *messageSender) openStream() error {
	if s.stream != nil && s.conn.Context().Err() == nil {
		return nil
	}
	s.closeStream()
	ctx, cancel := context.WithTimeout(s.p.ctx, s.p.t.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := s.p.connection(ctx)
	if err != nil {
		return err
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		s.p.discard(conn, "cannot open stream")
		return err
	}
	s.conn, s.stream = conn, stream
	s.fw = codec.NewFrameWriter(stream)
	_, err = stream.Write([]byte{streamMessages})
	return err
}

func (s *messageSender) closeStream() {
	if s.stream != nil {
		_ = s.stream.Close()
		s.stream, s.conn = nil, nil
	}
}
