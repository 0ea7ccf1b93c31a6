package transportquic

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// HandleStream registers fn for inbound streams of protocol proto (an ALPN
// id such as raftcore.ProtocolMgmt). Until a handler is registered, the
// handshake of a connection for proto is refused. A later registration
// replaces the earlier one. proto must not be raftcore.ProtocolRaft, which
// the transport serves itself.
func (t *Transport) HandleStream(proto string, fn raftcore.StreamHandler) error {
	switch {
	case proto == "" || len(proto) > 255:
		return fmt.Errorf("transportquic: HandleStream: protocol id must have 1 to 255 bytes")
	case proto == raftcore.ProtocolRaft:
		return fmt.Errorf("transportquic: HandleStream: %s is served by the transport", proto)
	case fn == nil:
		return fmt.Errorf("transportquic: HandleStream: nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return raftcore.ErrClosed
	}
	t.streamHandlers[proto] = fn
	return nil
}

// OpenStream opens a stream speaking proto to the node at to.Addr, which must
// prove to.Key (or, lacking a key, in cluster-secret mode the id to.ID).
// Connections are pooled per remote and protocol. It returns an error
// wrapping ErrNoHandler if the remote does not serve proto, ErrUntrustedPeer
// if it cannot prove the identity, ErrPeerUnreachable if it cannot be
// reached.
func (t *Transport) OpenStream(ctx context.Context, to raftcore.Peer, proto string) (raftcore.Stream, error) {
	if proto == raftcore.ProtocolRaft {
		return nil, fmt.Errorf("transportquic: OpenStream: %s streams are the transport's own", proto)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transportquic: OpenStream: %w", context.Cause(ctx))
	}
	key := proto + "\x00" + to.Addr + "\x00" + string(to.Key) + "\x00" + strconv.FormatUint(to.ID, 10)
	for attempt := 0; ; attempt++ {
		conn, remote, err := t.streamConn(ctx, key, to, proto)
		if err != nil {
			return nil, err
		}
		s, err := conn.OpenStreamSync(ctx)
		if err != nil {
			t.dropStreamConn(key, conn)
			if attempt == 0 && ctx.Err() == nil {
				continue // the pooled connection had died; dial once more
			}
			return nil, fmt.Errorf("%w: open stream: %w", ErrPeerUnreachable, err)
		}
		// QUIC announces a stream with its first data; the opening byte makes
		// the remote's handler run even if the opener only listens.
		if _, err := s.Write([]byte{streamOpened}); err != nil {
			s.CancelRead(codeCanceled)
			return nil, fmt.Errorf("%w: open stream: %w", ErrPeerUnreachable, err)
		}
		return &stream{s: s, remote: raftcore.Peer{ID: remote.ID, Addr: to.Addr, Key: remote.Key}, secret: remote.SecretHolder}, nil
	}
}

func (t *Transport) streamConn(ctx context.Context, key string, to raftcore.Peer, proto string) (*quic.Conn, remoteIdentity, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, remoteIdentity{}, raftcore.ErrClosed
	}
	if c := t.streamConns[key].conn; c != nil && c.Context().Err() == nil {
		t.mu.Unlock()
		remote, err := t.trust.identify(c.ConnectionState().TLS, &to)
		if err != nil {
			t.dropStreamConn(key, c)
		}
		return c, remote, err
	}
	t.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	conn, remote, err := t.dial(ctx, to, proto)
	if err != nil {
		return nil, remoteIdentity{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = conn.CloseWithError(codeShutdown, "shutting down")
		return nil, remoteIdentity{}, raftcore.ErrClosed
	}
	// Check again under t.mu: a RemovePeer since the handshake has either
	// been seen here, or will find the connection registered and close it.
	if _, err := t.trust.identify(conn.ConnectionState().TLS, &to); err != nil {
		_ = conn.CloseWithError(codeUntrusted, "untrusted")
		return nil, remoteIdentity{}, fmt.Errorf("transportquic: dial %v: %w", to, err)
	}
	if old := t.streamConns[key].conn; old != nil && old.Context().Err() == nil {
		// Another caller dialled concurrently; keep one connection.
		_ = conn.CloseWithError(codeNormal, "duplicate")
		return old, remote, nil
	}
	t.streamConns[key] = streamConn{conn: conn, id: remote.ID}
	return conn, remote, nil
}

// streamConn is a pooled outbound connection of OpenStream.
type streamConn struct {
	conn *quic.Conn
	id   uint64 // the raft id the remote proved, or 0
}

func (t *Transport) dropStreamConn(key string, conn *quic.Conn) {
	t.mu.Lock()
	if t.streamConns[key].conn == conn {
		delete(t.streamConns, key)
	}
	t.mu.Unlock()
	_ = conn.CloseWithError(codeNormal, "")
}

// serveProtocolStream hands an inbound stream to the handler registered for
// proto. The handler owns the stream.
func (t *Transport) serveProtocolStream(conn *quic.Conn, remote remoteIdentity, proto string, s *quic.Stream) {
	t.mu.Lock()
	fn := t.streamHandlers[proto]
	t.mu.Unlock()
	if fn == nil {
		s.CancelRead(codeProtocolError)
		s.CancelWrite(codeProtocolError)
		return
	}
	// The opener sends its first byte at once; a stream that never does
	// must not hold a goroutine and a stream slot for ever.
	var opened [1]byte
	_ = s.SetReadDeadline(time.Now().Add(t.cfg.ReadTimeout))
	if _, err := io.ReadFull(s, opened[:]); err != nil || opened[0] != streamOpened {
		if err == nil {
			t.protocolViolation(s, remote, fmt.Errorf("%w: bad stream opening byte", ErrProtocol))
		} else {
			t.streamFailed(s, remote, err)
		}
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(t.ctx)
	defer cancel()
	stop := context.AfterFunc(conn.Context(), cancel)
	defer stop()
	fn(ctx, &stream{s: s, remote: raftcore.Peer{ID: remote.ID, Addr: conn.RemoteAddr().String(), Key: remote.Key}, secret: remote.SecretHolder})
}

// stream adapts a QUIC stream to raftcore.Stream.
type stream struct {
	s      *quic.Stream
	remote raftcore.Peer
	secret bool
}

var _ raftcore.SecretHolderStream = (*stream)(nil)

func (s *stream) Read(p []byte) (int, error)  { return s.s.Read(p) }
func (s *stream) Write(p []byte) (int, error) { return s.s.Write(p) }

// CloseWrite ends what this side sends; the remote reads io.EOF.
func (s *stream) CloseWrite() error { return s.s.Close() }

// Close ends both directions: unread inbound data is discarded.
func (s *stream) Close() error {
	s.s.CancelRead(codeNormal)
	return s.s.Close()
}

func (s *stream) Remote() raftcore.Peer { return s.remote }

// ClusterSecretHolder implements raftcore.SecretHolderStream.
func (s *stream) ClusterSecretHolder() bool { return s.secret }
