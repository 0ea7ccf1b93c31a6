package transportquic

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

var (
	_ raftcore.Transport       = (*Transport)(nil)
	_ raftcore.StreamTransport = (*Transport)(nil)
)

// Transport is a raftcore.Transport over QUIC. One UDP socket serves every
// protocol (ALPN jangada/raft/1, jangada/mgmt/1, jangada/discovery/1 and any
// registered with HandleStream); every connection is mutually authenticated
// with the nodes' ed25519 identities.
//
// Outbound raft traffic uses one connection per peer, dialled on demand and
// again with jittered backoff after a failure. On it, control messages (votes,
// heartbeats, responses) and bulk messages (appends, proposals) travel on two
// separate streams with their own bounded queues, and every snapshot on a
// stream of its own, so nothing small waits behind something large.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	pub   ed25519.PublicKey
	trust *trustStore
	cert  tls.Certificate
	qconf *quic.Config
	pconn net.PacketConn
	qt    *quic.Transport
	ln    *quic.Listener
	stats counters
	// frameGauge measures the inbound frame memory held (MaxFrameBytesPerPeer).
	frameGauge frameGauge
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	handler atomic.Pointer[handlerBox]

	mu             sync.RWMutex
	closed         bool
	peers          map[uint64]*peer
	streamHandlers map[string]raftcore.StreamHandler
	inbound        map[*quic.Conn]*inboundConn
	// inboundByKey holds, per remote identity with an inbound connection,
	// its connection count and frame memory budget.
	inboundByKey map[string]*remoteLimits
	// inboundSeq orders inbound connections by admission.
	inboundSeq uint64
	// nonMemberConns counts the inbound connections of remotes with id 0.
	nonMemberConns int
	// inboundSnapshots holds the remotes whose snapshot is being received.
	inboundSnapshots map[uint64]struct{}
	streamConns      map[string]streamConn
}

type handlerBox struct{ h raftcore.Handler }

// New creates a Transport listening on cfg.ListenAddr (or cfg.PacketConn).
// Inbound connections are accepted at once; raft messages are delivered from
// Start on. It returns an error wrapping ErrInvalidConfig for a bad cfg.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var caKey ed25519.PrivateKey
	var cas []ed25519.PublicKey
	if cfg.ClusterSecret != nil {
		var err error
		if caKey, err = deriveClusterCA(cfg.ClusterSecret); err != nil {
			return nil, err
		}
		cas = append(cas, PublicKey(caKey))
		for _, secret := range cfg.AcceptedClusterSecrets {
			ca, err := deriveClusterCA(secret)
			if err != nil {
				return nil, err
			}
			cas = append(cas, PublicKey(ca))
		}
	}
	cert, err := newCertificate(cfg.Identity, cfg.NodeID, caKey)
	if err != nil {
		return nil, err
	}
	pconn := cfg.PacketConn
	if pconn == nil {
		addr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: ListenAddr: %w", ErrInvalidConfig, err)
		}
		if pconn, err = net.ListenUDP("udp", addr); err != nil {
			return nil, fmt.Errorf("transportquic: listen: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:              cfg,
		log:              cfg.Logger,
		pub:              PublicKey(cfg.Identity),
		trust:            newTrustStore(cfg.NodeID, PublicKey(cfg.Identity), cfg.TrustedKeys, cas),
		cert:             cert,
		pconn:            pconn,
		qt:               &quic.Transport{Conn: pconn, StatelessResetKey: statelessResetKey(cfg.Identity)},
		ctx:              ctx,
		cancel:           cancel,
		peers:            make(map[uint64]*peer),
		streamHandlers:   make(map[string]raftcore.StreamHandler),
		inbound:          make(map[*quic.Conn]*inboundConn),
		inboundByKey:     make(map[string]*remoteLimits),
		inboundSnapshots: make(map[uint64]struct{}),
		streamConns:      make(map[string]streamConn),
	}
	t.qconf = &quic.Config{
		HandshakeIdleTimeout:           cfg.HandshakeTimeout,
		MaxIdleTimeout:                 cfg.IdleTimeout,
		KeepAlivePeriod:                cfg.IdleTimeout / 3,
		MaxIncomingStreams:             int64(cfg.MaxStreamsPerConnection),
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         8 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     32 << 20,
	}
	t.ln, err = t.qt.Listen(t.serverTLSConfig(), t.qconf)
	if err != nil {
		cancel()
		_ = t.qt.Close()
		_ = pconn.Close()
		return nil, fmt.Errorf("transportquic: listen: %w", err)
	}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Addr returns the UDP address the transport listens on.
func (t *Transport) Addr() net.Addr { return t.ln.Addr() }

// PublicKey returns this node's identity: the key peers must pin
// (raftcore.Peer.Key).
func (t *Transport) PublicKey() ed25519.PublicKey { return t.pub }

// Self returns the raftcore.Peer describing this node.
func (t *Transport) Self() raftcore.Peer {
	return raftcore.Peer{ID: t.cfg.NodeID, Addr: t.Addr().String(), Key: t.pub}
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats { return t.stats.snapshot() }

// Start begins delivering inbound raft messages and snapshots to h.
func (t *Transport) Start(h raftcore.Handler) error {
	if h == nil {
		return fmt.Errorf("transportquic: Start: nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return raftcore.ErrClosed
	}
	if !t.handler.CompareAndSwap(nil, &handlerBox{h: h}) {
		return fmt.Errorf("transportquic: Start called twice")
	}
	return nil
}

func (t *Transport) currentHandler() raftcore.Handler {
	if b := t.handler.Load(); b != nil {
		return b.h
	}
	return nil
}

// Send queues msgs for their peers without blocking. Messages to unknown
// peers, or beyond a full queue, are dropped and their peer reported through
// Handler.ReportUnreachable.
func (t *Transport) Send(msgs []*raftpb.Message) {
	var unreachable []uint64
	t.mu.RLock()
	closed := t.closed
	for _, m := range msgs {
		if closed || m.GetType() == raftpb.MessageType_MsgSnap {
			t.stats.messagesDropped.Add(1)
			continue
		}
		p := t.peers[m.GetTo()]
		if p == nil || !p.enqueue(m) {
			t.stats.messagesDropped.Add(1)
			unreachable = appendUnique(unreachable, m.GetTo())
		}
	}
	t.mu.RUnlock()
	t.reportUnreachable(unreachable...)
}

func appendUnique(ids []uint64, id uint64) []uint64 {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

func (t *Transport) reportUnreachable(ids ...uint64) {
	h := t.currentHandler()
	if h == nil {
		return
	}
	for _, id := range ids {
		h.ReportUnreachable(id)
	}
}

// AddPeer adds p or updates its address and key. A changed address or key
// closes the connections to the old one; the next message dials the new one.
func (t *Transport) AddPeer(p raftcore.Peer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return raftcore.ErrClosed
	}
	if p.ID == t.cfg.NodeID {
		return nil
	}
	if err := checkPeer(p); err != nil {
		return err
	}
	changed, known := t.trust.setMember(p)
	if !changed {
		return nil
	}
	if pr := t.peers[p.ID]; pr != nil {
		pr.update(p)
	} else {
		t.peers[p.ID] = t.newPeer(p)
	}
	// Connections authenticated under the old identity of p.ID, or under
	// p.Key before it belonged to p.ID, must authenticate again.
	for c, in := range t.inbound {
		remote := in.remote
		if (known && remote.ID == p.ID) || (len(p.Key) > 0 && string(remote.Key) == string(p.Key) && remote.ID != p.ID) {
			_ = c.CloseWithError(codeRemoved, "peer identity changed")
		}
	}
	return nil
}

// checkPeer checks the form of a peer given to AddPeer. Only the form of the
// address is checked; names are resolved when dialling, so AddPeer never
// waits for DNS.
func checkPeer(p raftcore.Peer) error {
	switch {
	case p.ID == 0:
		return fmt.Errorf("transportquic: AddPeer: id 0")
	case len(p.Key) != 0 && len(p.Key) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: peer %d key has %d bytes", ErrInvalidKey, p.ID, len(p.Key))
	}
	if _, port, err := net.SplitHostPort(p.Addr); err != nil || port == "" {
		return fmt.Errorf("transportquic: AddPeer %d: address %q is not host:port", p.ID, p.Addr)
	}
	return nil
}

// RemovePeer forgets id: queued messages are dropped, its connections (raft,
// inbound, and those OpenStream dialled) closed, and it is refused from now
// on. In cluster-secret mode it is refused on a CA certificate for good, even
// if added back; only a pinned Key can prove it again.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trust.removeMember(id)
	if p := t.peers[id]; p != nil {
		delete(t.peers, id)
		p.stop()
	}
	t.closeInboundLocked(id, codeRemoved, "peer removed")
	for k, c := range t.streamConns {
		if c.id == id {
			delete(t.streamConns, k)
			_ = c.conn.CloseWithError(codeRemoved, "peer removed")
		}
	}
}

func (t *Transport) closeInboundLocked(id uint64, code quic.ApplicationErrorCode, reason string) {
	for c, in := range t.inbound {
		if in.remote.ID == id {
			_ = c.CloseWithError(code, reason)
		}
	}
}

// Close stops the transport: every connection is closed, every goroutine it
// started has returned when Close returns. Later calls return ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return raftcore.ErrClosed
	}
	t.closed = true
	t.cancel()
	for id, p := range t.peers {
		delete(t.peers, id)
		p.stop()
	}
	for c := range t.inbound {
		_ = c.CloseWithError(codeShutdown, "shutting down")
	}
	for k, c := range t.streamConns {
		delete(t.streamConns, k)
		_ = c.conn.CloseWithError(codeShutdown, "shutting down")
	}
	t.mu.Unlock()
	err := t.ln.Close()
	t.wg.Wait()
	err = errors.Join(err, t.qt.Close(), t.pconn.Close())
	if err != nil {
		return fmt.Errorf("transportquic: close: %w", err)
	}
	return nil
}

// goTracked runs fn in a goroutine that Close waits for. It reports false
// (and does not run fn) when the transport is closed.
func (t *Transport) goTracked(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
	return true
}

// statelessResetKey derives the key of QUIC stateless resets from the node's
// identity, so that it stays the same across restarts: a restarted node can
// then reset the connections its previous incarnation had, and peers re-dial
// at once instead of waiting for those connections to time out.
func statelessResetKey(identity ed25519.PrivateKey) *quic.StatelessResetKey {
	h := sha256.New()
	h.Write([]byte("jangada/transport-quic/stateless-reset/1"))
	h.Write(identity.Seed())
	var key quic.StatelessResetKey
	copy(key[:], h.Sum(nil))
	return &key
}
