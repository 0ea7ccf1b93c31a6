package transportquic

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/quic-go/quic-go"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// baseTLSConfig holds what client and server share: TLS 1.3 only, this
// node's certificate, and no session tickets, since a resumed session would
// skip certificate checks.
func (t *Transport) baseTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{t.cert},
		SessionTicketsDisabled: true,
	}
}

// serverTLSConfig requires a client certificate and checks it in
// VerifyConnection, which runs on every handshake (VerifyPeerCertificate
// would be skipped on resumption). The ALPN ids offered are the raft protocol
// plus those with a registered stream handler; any other is refused during
// the handshake.
func (t *Transport) serverTLSConfig() *tls.Config {
	conf := t.baseTLSConfig()
	conf.ClientAuth = tls.RequireAnyClientCert
	conf.NextProtos = []string{raftcore.ProtocolRaft}
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if _, err := t.trust.identify(cs, nil); err != nil {
			t.stats.handshakesRefused.Add(1)
			t.log.Warn("refused connection", "error", err)
			return err
		}
		return nil
	}
	conf.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := conf.Clone()
		c.GetConfigForClient = nil
		c.NextProtos = t.protocols()
		return c, nil
	}
	return conf
}

func (t *Transport) protocols() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	protos := []string{raftcore.ProtocolRaft}
	for p := range t.streamHandlers {
		protos = append(protos, p)
	}
	slices.Sort(protos[1:])
	return protos
}

// dial connects to want speaking proto and proves want's identity: its pinned
// key, or in cluster-secret mode its id. The chain is checked in
// VerifyConnection; InsecureSkipVerify only turns off the web PKI checks
// (host names, public CAs) that mean nothing here.
func (t *Transport) dial(ctx context.Context, want raftcore.Peer, proto string) (*quic.Conn, remoteIdentity, error) {
	addr, err := net.ResolveUDPAddr("udp", want.Addr)
	if err != nil {
		return nil, remoteIdentity{}, fmt.Errorf("transportquic: dial %v: %w", want, err)
	}
	conf := t.baseTLSConfig()
	conf.InsecureSkipVerify = true
	conf.NextProtos = []string{proto}
	conf.ServerName = "jangada"
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := t.trust.identify(cs, &want)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := t.qt.Dial(ctx, addr, conf, t.qconf)
	if err != nil {
		if errors.Is(err, ErrUntrustedPeer) {
			return nil, remoteIdentity{}, fmt.Errorf("transportquic: dial %v: %w", want, err)
		}
		var te *quic.TransportError
		if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() && te.ErrorCode == 0x100+0x78 {
			// no_application_protocol alert from the remote.
			return nil, remoteIdentity{}, fmt.Errorf("%w: %s at %v: %w", ErrNoHandler, proto, want, err)
		}
		return nil, remoteIdentity{}, fmt.Errorf("%w: dial %v: %w", ErrPeerUnreachable, want, err)
	}
	if err := awaitWelcome(ctx, conn); err != nil {
		_ = conn.CloseWithError(codeCanceled, "no welcome")
		var te *quic.TransportError
		if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
			return nil, remoteIdentity{}, fmt.Errorf("%w: %v refused this node's identity: %w", ErrUntrustedPeer, want, err)
		}
		return nil, remoteIdentity{}, fmt.Errorf("%w: dial %v: %w", ErrPeerUnreachable, want, errors.Join(err, context.Cause(ctx)))
	}
	// Check again now that the handshake proved the key, and bind a keyless
	// member to it on first use.
	remote, learned, err := t.trust.admit(conn.ConnectionState().TLS, &want)
	if err != nil {
		_ = conn.CloseWithError(codeUntrusted, "untrusted")
		return nil, remoteIdentity{}, fmt.Errorf("transportquic: dial %v: %w", want, err)
	}
	if learned {
		t.keyLearned(remote)
	}
	return conn, remote, nil
}

// keyLearned reports a new trust-on-first-use binding.
func (t *Transport) keyLearned(remote remoteIdentity) {
	t.log.Info("bound keyless member to the key that proved it first", "peer", remote.ID, "key", FormatKey(remote.Key))
	if fn := t.cfg.OnKeyLearned; fn != nil {
		fn(remote.ID, bytes.Clone(remote.Key))
	}
}

// awaitWelcome waits for the stream a server opens once it has verified the
// client's certificate. The client's side of a TLS 1.3 handshake ends before
// the server has checked the client, so without this a refused client would
// only learn of the refusal when its first writes fail.
func awaitWelcome(ctx context.Context, conn *quic.Conn) error {
	s, err := conn.AcceptStream(ctx)
	if err != nil {
		if cause := context.Cause(conn.Context()); cause != nil {
			return cause
		}
		return err
	}
	defer s.Close()
	defer s.CancelRead(codeNormal)
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return err
	}
	if b[0] != streamWelcome {
		return fmt.Errorf("%w: bad welcome", ErrProtocol)
	}
	return nil
}

// sendWelcome tells a client that its identity was accepted.
func sendWelcome(conn *quic.Conn) error {
	s, err := conn.OpenStream()
	if err != nil {
		return err
	}
	s.CancelRead(codeNormal)
	if _, err := s.Write([]byte{streamWelcome}); err != nil {
		return err
	}
	// The client may already have read the byte and cancelled the stream;
	// that is not a failure.
	_ = s.Close()
	return nil
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		if !t.goTracked(func() { t.serveConn(conn) }) {
			_ = conn.CloseWithError(codeShutdown, "shutting down")
			return
		}
	}
}

// serveConn accepts the streams of one inbound connection until it closes.
// The handshake's identity check runs again when the connection is
// admitted, under t.mu: a RemovePeer or AddPeer that raced with the
// handshake either happens before (and the check sees it) or after (and
// closes the registered connection).
func (t *Transport) serveConn(conn *quic.Conn) {
	state := conn.ConnectionState()
	if hook := t.cfg.testHookBeforeAdmit; hook != nil {
		hook()
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = conn.CloseWithError(codeShutdown, "shutting down")
		return
	}
	remote, learned, err := t.trust.admit(state.TLS, nil)
	var in *inboundConn
	if err == nil {
		in, err = t.admitLocked(conn, remote)
	}
	if err != nil {
		t.mu.Unlock()
		t.stats.handshakesRefused.Add(1)
		t.log.Warn("refused connection after its handshake", "error", err)
		code := quic.ApplicationErrorCode(codeUntrusted)
		if errors.Is(err, ErrTooManyConnections) {
			code = codeTooMany
			t.stats.limitsHit.Add(1)
		}
		_ = conn.CloseWithError(code, "refused")
		return
	}
	p := t.peers[remote.ID]
	t.mu.Unlock()
	if learned {
		t.keyLearned(remote)
	}
	if p != nil {
		p.resetBackoff()
	}
	defer func() {
		t.mu.Lock()
		if t.inbound[conn] == in {
			t.releaseLocked(conn)
		}
		t.mu.Unlock()
		_ = conn.CloseWithError(codeNormal, "")
	}()
	if err := sendWelcome(conn); err != nil {
		return
	}

	proto := state.TLS.NegotiatedProtocol
	for {
		stream, err := conn.AcceptStream(t.ctx)
		if err != nil {
			return
		}
		var serve func()
		if proto == raftcore.ProtocolRaft {
			serve = func() { t.serveRaftStream(conn, in, stream) }
		} else {
			serve = func() { t.serveProtocolStream(conn, remote, proto, stream) }
		}
		if !t.goTracked(serve) {
			stream.CancelRead(codeShutdown)
			stream.CancelWrite(codeShutdown)
			return
		}
	}
}
