package transportmem

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// HandleStream registers fn for inbound streams of protocol proto, replacing
// any earlier registration. fn runs in its own goroutine with a context
// cancelled by Close, and must close the stream. A nil fn unregisters proto.
func (t *Transport) HandleStream(proto string, fn raftcore.StreamHandler) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == stateClosed {
		return fmt.Errorf("transportmem: handle stream %q: %w", proto, raftcore.ErrClosed)
	}
	if fn == nil {
		delete(t.streams, proto)
		return nil
	}
	t.streams[proto] = fn
	return nil
}

// OpenStream opens a stream to the transport listening on to.Addr and runs
// its handler for proto. When to.ID or to.Key is set, the remote must have
// that id and key. Errors wrap raftcore.ErrClosed, ErrUnreachable,
// ErrPartitioned, ErrProtocolNotSupported or ctx's error.
func (t *Transport) OpenStream(ctx context.Context, to raftcore.Peer, proto string) (raftcore.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transportmem: open stream to %v: %w", to, err)
	}
	if _, ok := t.enter(false); !ok {
		return nil, fmt.Errorf("transportmem: open stream to %v: %w", to, raftcore.ErrClosed)
	}
	defer t.goroutines.Done()

	rcv := t.net.resolve(to.Addr)
	if rcv == nil || to.ID != 0 && rcv.self.ID != to.ID || len(to.Key) > 0 && !bytes.Equal(rcv.self.Key, to.Key) {
		return nil, fmt.Errorf("%w: no node %v", ErrUnreachable, to)
	}
	rcv.mu.RLock()
	fn := rcv.streams[proto]
	rcv.mu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("%w: %q at %v", ErrProtocolNotSupported, proto, to)
	}

	size := t.net.cfg.StreamBuffer
	c := &streamConn{net: t.net, opener: t, acceptor: rcv, out: newPipe(size), in: newPipe(size)}
	local := &stream{conn: c, r: c.in, w: c.out, remote: t.remoteView(rcv.self)}
	remote := &stream{conn: c, r: c.out, w: c.in, remote: rcv.remoteView(t.self)}
	if err := t.net.addConn(c); err != nil {
		return nil, err
	}
	if _, ok := rcv.enter(false); !ok {
		t.net.removeConn(c)
		return nil, fmt.Errorf("%w: %v closed", ErrUnreachable, to)
	}
	go func() {
		defer rcv.goroutines.Done()
		fn(rcv.ctx, remote)
	}()
	return local, nil
}

// streamConn is the pair of pipes behind a stream; out carries what the
// opener writes.
type streamConn struct {
	net              *Network
	opener, acceptor *Transport
	out, in          *pipe
	closedEnds       atomic.Int32
}

func (c *streamConn) ends() (a, b *Transport) { return c.opener, c.acceptor }

func (c *streamConn) abort(err error) {
	c.out.abort(err)
	c.in.abort(err)
}

// stream is one end of a streamConn.
type stream struct {
	conn      *streamConn
	r, w      *pipe
	remote    raftcore.Peer
	closeOnce sync.Once
}

var _ raftcore.Stream = (*stream)(nil)

func (s *stream) Read(b []byte) (int, error)  { return s.r.Read(b) }
func (s *stream) Write(b []byte) (int, error) { return s.w.Write(b) }

// CloseWrite ends what this side sends; the remote reads io.EOF after the
// data already written. Reads continue.
func (s *stream) CloseWrite() error {
	s.w.closeWrite()
	return nil
}

// Close ends both directions of this side: the remote reads io.EOF after the
// data already written, and its writes fail.
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		s.w.closeWrite()
		s.r.closeRead()
		if s.conn.closedEnds.Add(1) == 2 {
			s.conn.net.removeConn(s.conn)
		}
	})
	return nil
}

// Remote returns the node at the other end; its ID is 0 when that node is
// not a peer of this transport.
func (s *stream) Remote() raftcore.Peer {
	p := s.remote
	p.Key = append([]byte(nil), p.Key...)
	return p
}
