package transportquic

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// rawClient speaks to a Transport without being one, so tests can present
// any certificate and write any bytes.
type rawClient struct {
	qt   *quic.Transport
	cert tls.Certificate
}

// newRawClient returns a client presenting a certificate for key (signed by
// the CA derived from secret when secret is not nil, carrying nodeID).
func newRawClient(t testing.TB, key ed25519.PrivateKey, nodeID uint64, secret []byte) *rawClient {
	t.Helper()
	var ca ed25519.PrivateKey
	if secret != nil {
		var err error
		if ca, err = deriveClusterCA(secret); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := newCertificate(key, nodeID, ca)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quic.Transport{Conn: udp}
	t.Cleanup(func() {
		_ = qt.Close()
		_ = udp.Close()
	})
	return &rawClient{qt: qt, cert: cert}
}

// dial connects to target; conf, when not nil, adjusts the TLS config.
func (c *rawClient) dial(t testing.TB, target *Transport, alpn string, conf func(*tls.Config)) (*quic.Conn, error) {
	t.Helper()
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{c.cert},
		InsecureSkipVerify: true,
		NextProtos:         []string{alpn},
	}
	if conf != nil {
		conf(tc)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := c.qt.Dial(ctx, target.Addr(), tc, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.CloseWithError(0, "") })
	// Like a Transport, wait until the server accepted this identity.
	if err := awaitWelcome(ctx, conn); err != nil {
		return nil, err
	}
	return conn, nil
}

// recorder starts tr with a new transporttest.Recorder.
func recorder(t testing.TB, tr *Transport) *transporttest.Recorder {
	t.Helper()
	r := transporttest.NewRecorder()
	if err := tr.Start(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func heartbeat(from, to, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: new(raftpb.MsgHeartbeat), From: new(from), To: new(to), Term: new(term)}
}

func hasTerm(from, term uint64) func(*transporttest.RecorderState) bool {
	return func(s *transporttest.RecorderState) bool {
		for _, m := range s.Messages() {
			if m.GetFrom() == from && m.GetTerm() == term {
				return true
			}
		}
		return false
	}
}

var _ raftcore.Handler = (*transporttest.Recorder)(nil)
