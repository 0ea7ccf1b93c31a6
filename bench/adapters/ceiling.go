package adapters

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/bench/harness"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Transport ceilings: what one hop of a replication round costs on this
// machine without raft, a log or a state machine. A Write sends its command
// from a client endpoint to a server endpoint and returns when the server's
// acknowledgement is back: one round trip, with the batching a raft node's
// sender does (every request queued while the previous write was going out
// travels in the next write, and the server acknowledges everything it read
// in one write). The same pattern runs over bare quic-go (one bidirectional
// stream), over TLS 1.3 on TCP, and over transport-quic carrying raft
// messages (MsgApp out, MsgAppResp back), so the report can say how close
// transport-quic comes to quic-go itself and whether QUIC or its use costs.
const (
	CeilingQUICGo    = "ceiling/quic-go"
	CeilingTLSTCP    = "ceiling/tls-tcp"
	CeilingTransport = "ceiling/transport-quic"
)

func ceilingSystems() []harness.System {
	const tuning = "one client and one server endpoint on 127.0.0.1, no raft: a write is one round trip of " +
		"its command and an 8-byte acknowledgement, requests queued during a write batched into the next, " +
		"acknowledgements batched per read; "
	return []harness.System{
		{Name: CeilingQUICGo, Family: harness.FamilyCeiling, Diagnostic: true, Start: startStreamCeiling(dialQUIC),
			Tuning: tuning + "quic-go, TLS 1.3, one bidirectional stream"},
		{Name: CeilingTLSTCP, Family: harness.FamilyCeiling, Diagnostic: true, Start: startStreamCeiling(dialTLSTCP),
			Tuning: tuning + "crypto/tls 1.3 over one TCP connection (Nagle off)"},
		{Name: CeilingTransport, Family: harness.FamilyCeiling, Diagnostic: true, Start: startTransportCeiling,
			Tuning: tuning + "jangada's transport-quic with its defaults; a MsgApp with one entry out, a MsgAppResp back"},
	}
}

// --- request/acknowledgement over one byte stream --------------------------

// streamCeiling is the client side of a stream ceiling.
type streamCeiling struct {
	conn    io.ReadWriteCloser
	closers []io.Closer
	reqs    chan ceilingRequest
	pending pendingAcks
	done    chan struct{}
	wg      sync.WaitGroup
}

// pendingAcks are the requests waiting for their acknowledgement, by id.
type pendingAcks struct {
	mu   sync.Mutex
	m    map[uint64]chan struct{}
	next uint64
}

// add registers a new request and returns its id and what closes when it
// is acknowledged.
func (p *pendingAcks) add() (uint64, chan struct{}) {
	ch := make(chan struct{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[uint64]chan struct{}{}
	}
	p.next++
	p.m[p.next] = ch
	return p.next, ch
}

// ack completes request id, if it still waits.
func (p *pendingAcks) ack(id uint64) {
	p.mu.Lock()
	ch := p.m[id]
	delete(p.m, id)
	p.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// wait returns once ch is closed, or with ctx's error (forgetting id).
func (p *pendingAcks) wait(ctx context.Context, id uint64, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.m, id)
		p.mu.Unlock()
		return ctx.Err()
	}
}

type ceilingRequest struct {
	id  uint64
	cmd []byte
}

// ceilingDial returns the client's and the server's ends of one connection
// and what to close with them.
type ceilingDial func(ctx context.Context) (client, server io.ReadWriteCloser, closers []io.Closer, err error)

func startStreamCeiling(dial ceilingDial) func(context.Context, harness.ClusterSpec) (harness.Cluster, error) {
	return func(ctx context.Context, _ harness.ClusterSpec) (harness.Cluster, error) {
		client, server, closers, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		c := &streamCeiling{conn: client, closers: closers, reqs: make(chan ceilingRequest, 4096), done: make(chan struct{})}
		c.wg.Add(3)
		go c.writeLoop()
		go c.readLoop()
		go func() { defer c.wg.Done(); serveCeiling(server) }()
		return c, nil
	}
}

// writeLoop writes each request ([len u32][id u64][cmd]) with every request
// queued behind it, in one Write.
func (c *streamCeiling) writeLoop() {
	defer c.wg.Done()
	var buf []byte
	for {
		var r ceilingRequest
		select {
		case r = <-c.reqs:
		case <-c.done:
			return
		}
		buf = appendRequest(buf[:0], r)
	more:
		for len(buf) < 1<<20 {
			select {
			case r = <-c.reqs:
				buf = appendRequest(buf, r)
			default:
				break more
			}
		}
		if _, err := c.conn.Write(buf); err != nil {
			return
		}
	}
}

func appendRequest(buf []byte, r ceilingRequest) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.cmd)))
	buf = binary.BigEndian.AppendUint64(buf, r.id)
	return append(buf, r.cmd...)
}

// readLoop completes requests as their acknowledgements (ids) arrive.
func (c *streamCeiling) readLoop() {
	defer c.wg.Done()
	r := bufio.NewReaderSize(c.conn, 64<<10)
	var id [8]byte
	for {
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return
		}
		c.pending.ack(binary.BigEndian.Uint64(id[:]))
	}
}

// serveCeiling acknowledges requests, every acknowledgement for what one
// read returned in one write.
func serveCeiling(conn io.ReadWriter) {
	r := bufio.NewReaderSize(conn, 64<<10)
	var head [12]byte
	var acks []byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:4])
		if _, err := r.Discard(int(n)); err != nil {
			return
		}
		acks = append(acks, head[4:]...)
		if r.Buffered() == 0 {
			if _, err := conn.Write(acks); err != nil {
				return
			}
			acks = acks[:0]
		}
	}
}

func (c *streamCeiling) Write(ctx context.Context, cmd []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, ch := c.pending.add()
	select {
	case c.reqs <- ceilingRequest{id: id, cmd: cmd}:
	case <-ctx.Done():
		c.pending.ack(id)
		return ctx.Err()
	}
	return c.pending.wait(ctx, id, ch)
}

func (c *streamCeiling) Read(context.Context, harness.ReadKind) error { return harness.ErrUnsupported }
func (c *streamCeiling) WaitLeader(context.Context) error             { return nil }
func (c *streamCeiling) KillLeader(context.Context) error             { return harness.ErrUnsupported }

func (c *streamCeiling) Close() error {
	close(c.done)
	err := c.conn.Close()
	for _, cl := range c.closers {
		_ = cl.Close()
	}
	c.wg.Wait()
	return err
}

// ceilingTLS returns a server and a client TLS 1.3 configuration around a
// fresh self-signed ed25519 certificate.
func ceilingTLS(alpn string) (server, client *tls.Config, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, NextProtos: []string{alpn}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, NextProtos: []string{alpn}}
	return server, client, nil
}

// quicStream is one bidirectional quic-go stream as an io.ReadWriteCloser.
type quicStream struct{ *quic.Stream }

func (s quicStream) Close() error {
	s.CancelRead(0)
	return s.Stream.Close()
}

func dialQUIC(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, []io.Closer, error) {
	stls, ctls, err := ceilingTLS("jangada-bench")
	if err != nil {
		return nil, nil, nil, err
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", stls, &quic.Config{})
	if err != nil {
		return nil, nil, nil, err
	}
	type accepted struct {
		s   *quic.Stream
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept(ctx)
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		s, err := conn.AcceptStream(ctx)
		acc <- accepted{s, err}
	}()
	conn, err := quic.DialAddr(ctx, ln.Addr().String(), ctls, &quic.Config{})
	if err != nil {
		_ = ln.Close()
		return nil, nil, nil, err
	}
	cs, err := conn.OpenStreamSync(ctx)
	if err == nil {
		// The server sees the stream once it carries data.
		_, err = cs.Write([]byte{0})
	}
	if err != nil {
		_ = conn.CloseWithError(0, "")
		_ = ln.Close()
		return nil, nil, nil, err
	}
	a := <-acc
	if a.err == nil {
		var b [1]byte
		_, a.err = io.ReadFull(a.s, b[:])
	}
	if a.err != nil {
		_ = conn.CloseWithError(0, "")
		_ = ln.Close()
		return nil, nil, nil, a.err
	}
	closeConn := closerFunc(func() error { return conn.CloseWithError(0, "") })
	return quicStream{cs}, quicStream{a.s}, []io.Closer{closeConn, ln}, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func dialTLSTCP(ctx context.Context) (io.ReadWriteCloser, io.ReadWriteCloser, []io.Closer, error) {
	stls, ctls, err := ceilingTLS("jangada-bench")
	if err != nil {
		return nil, nil, nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", stls)
	if err != nil {
		return nil, nil, nil, err
	}
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).HandshakeContext(ctx)
		}
		acc <- accepted{c, err}
	}()
	d := tls.Dialer{Config: ctls}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, nil, nil, err
	}
	a := <-acc
	if a.err != nil {
		_ = c.Close()
		_ = ln.Close()
		return nil, nil, nil, a.err
	}
	return c, a.c, []io.Closer{a.c, ln}, nil
}

// --- transport-quic ----------------------------------------------------------

// transportCeiling sends MsgApps from node 1 to node 2, which answers each
// with a MsgAppResp of the same index.
type transportCeiling struct {
	client, server raftcore.Transport
	pending        pendingAcks
}

// ceilingHandler is the raftcore.Handler of one side.
type ceilingHandler struct{ onMessages func([]*raftpb.Message) }

func (h ceilingHandler) HandleMessages(msgs []*raftpb.Message) { h.onMessages(msgs) }
func (h ceilingHandler) HandleSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return errors.New("bench: no snapshots here")
}
func (h ceilingHandler) ReportUnreachable(uint64) {}

func startTransportCeiling(ctx context.Context, _ harness.ClusterSpec) (harness.Cluster, error) {
	ts, peers, err := jangadaTransports("quic", 2)
	if err != nil {
		return nil, err
	}
	c := &transportCeiling{client: ts[0], server: ts[1]}
	fail := func(err error) (harness.Cluster, error) {
		_ = c.Close()
		return nil, err
	}
	if err := c.client.AddPeer(peers[1]); err != nil {
		return fail(err)
	}
	if err := c.server.AddPeer(peers[0]); err != nil {
		return fail(err)
	}
	if err := c.server.Start(ceilingHandler{onMessages: func(msgs []*raftpb.Message) {
		resps := make([]*raftpb.Message, 0, len(msgs))
		for _, m := range msgs {
			resps = append(resps, &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: new(uint64(2)), To: new(uint64(1)),
				Term: new(uint64(1)), Index: new(m.GetIndex())})
		}
		c.server.Send(resps)
	}}); err != nil {
		return fail(err)
	}
	if err := c.client.Start(ceilingHandler{onMessages: func(msgs []*raftpb.Message) {
		for _, m := range msgs {
			c.pending.ack(m.GetIndex())
		}
	}}); err != nil {
		return fail(err)
	}
	// The first round trip dials; a dropped message is retried.
	for {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Write(wctx, []byte("hello"))
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("bench: transport ceiling: first round trip: %w", ctx.Err()))
		}
	}
}

func (c *transportCeiling) Write(ctx context.Context, cmd []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id, ch := c.pending.add()
	c.client.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(1)),
		Index: new(id), Entries: []*raftpb.Entry{{Term: new(uint64(1)), Index: new(id), Data: cmd}}}})
	return c.pending.wait(ctx, id, ch)
}

func (c *transportCeiling) Read(context.Context, harness.ReadKind) error {
	return harness.ErrUnsupported
}
func (c *transportCeiling) WaitLeader(context.Context) error { return nil }
func (c *transportCeiling) KillLeader(context.Context) error { return harness.ErrUnsupported }

func (c *transportCeiling) Close() error {
	return errors.Join(c.client.Close(), c.server.Close())
}
