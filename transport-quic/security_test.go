package transportquic

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

const waitTimeout = 15 * time.Second

func TestUntrustedNodeCannotConnectOrSend(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	intruder, _ := newTestTransport(t, 3, nil)
	link(t, a, b)
	// The intruder knows b's address and real key, but b does not know it.
	if err := intruder.AddPeer(b.Self()); err != nil {
		t.Fatal(err)
	}
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	ra, rb, ri := recorder(t, a), recorder(t, b), recorder(t, intruder)
	_ = ra

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	s, err := intruder.OpenStream(ctx, b.Self(), raftcore.ProtocolMgmt)
	if err == nil {
		s.Close()
		t.Fatal("untrusted node opened a management stream")
	}
	if !errors.Is(err, ErrUntrustedPeer) {
		t.Errorf("OpenStream by an untrusted node: %v, want ErrUntrustedPeer", err)
	}
	t.Logf("refusal seen by the untrusted node: %v", err)
	intruder.Send([]*raftpb.Message{heartbeat(3, 2, 99)})
	ri.Wait(t, waitTimeout, "intruder's send reported unreachable", func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })

	// A member's message after the attempts is delivered; the intruder's never.
	a.Send([]*raftpb.Message{heartbeat(1, 2, 5)})
	rb.Wait(t, waitTimeout, "member's heartbeat", hasTerm(1, 5))
	for _, m := range rb.Messages() {
		if m.GetFrom() == 3 {
			t.Fatalf("message from the untrusted node was delivered: %v", m)
		}
	}
	if got := b.Stats().HandshakesRefused; got < 2 {
		t.Errorf("HandshakesRefused = %d, want at least 2 (stream and raft connection)", got)
	}
}

func TestDialerRefusesPeerWithUnexpectedKey(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	impostorKey, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	// a believes node 2 has another key: b cannot prove it.
	wrong := b.Self()
	wrong.Key = PublicKey(impostorKey)
	if err := a.AddPeer(wrong); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(a.Self()); err != nil {
		t.Fatal(err)
	}
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	ra, rb := recorder(t, a), recorder(t, b)

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, err = a.OpenStream(ctx, wrong, raftcore.ProtocolMgmt)
	if !errors.Is(err, ErrUntrustedPeer) {
		t.Fatalf("OpenStream to a node with another key: %v, want ErrUntrustedPeer", err)
	}
	a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	ra.Wait(t, waitTimeout, "unreachable report", func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })
	if n := len(rb.Messages()); n != 0 {
		t.Fatalf("node with an unexpected key received %d messages", n)
	}
}

func TestSpoofedFromIsDroppedAndCounted(t *testing.T) {
	tests := []struct {
		name string
		from uint64
	}{
		{"AnotherMember", 3},
		{"TheReceiverItself", 2},
		{"Zero", 0},
		{"Unknown", 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestTransport(t, 1, nil)
			b, _ := newTestTransport(t, 2, nil)
			c, _ := newTestTransport(t, 3, nil)
			link(t, a, b, c)
			recorder(t, a)
			rb := recorder(t, b)
			// a is authenticated as 1 but claims to be someone else.
			a.Send([]*raftpb.Message{heartbeat(tt.from, 2, 10), heartbeat(1, 2, 11)})
			rb.Wait(t, waitTimeout, "genuine heartbeat", hasTerm(1, 11))
			if got := rb.Messages(); len(got) != 1 || got[0].GetFrom() != 1 {
				t.Fatalf("received %v, want only the genuine heartbeat", got)
			}
			if got := b.Stats().SpoofedDropped; got != 1 {
				t.Fatalf("SpoofedDropped = %d, want 1", got)
			}
		})
	}
}

func TestAllowListedKeyGetsStreamsButNoRaftIdentity(t *testing.T) {
	toolKey, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newTestTransport(t, 2, func(c *Config) { c.TrustedKeys = []ed25519.PublicKey{PublicKey(toolKey)} })
	tool, _ := newTestTransport(t, 9, func(c *Config) { c.Identity = toolKey })
	rb := recorder(t, b)
	recorder(t, tool)
	if err := tool.AddPeer(b.Self()); err != nil {
		t.Fatal(err)
	}
	remotes := make(chan raftcore.Peer, 1)
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(remotes)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	s, err := tool.OpenStream(ctx, b.Self(), raftcore.ProtocolMgmt)
	if err != nil {
		t.Fatalf("allow-listed key could not open a stream: %v", err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	remote := transporttest.WaitClosed(t, remotes, waitTimeout, "handler's remote")
	if remote.ID != 0 || !bytes.Equal(remote.Key, PublicKey(toolKey)) {
		t.Fatalf("handler saw remote %v key %x, want id 0 and the tool's key", remote, remote.Key)
	}
	// Its raft connection (dialled as soon as b became its peer) is refused
	// in the handshake: raft streams are for members only.
	tool.Send([]*raftpb.Message{heartbeat(9, 2, 1)})
	clustertest.WaitFor(t, "raft connection refused", waitTimeout, func() bool { return b.Stats().HandshakesRefused > 0 })
	if n := len(rb.Messages()); n != 0 {
		t.Fatalf("raft messages from a key that is no member were delivered: %d", n)
	}
}

func TestClusterSecretTrust(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	withSecret := func(s []byte) func(*Config) { return func(c *Config) { c.ClusterSecret = s } }
	keyless := func(tr *Transport) raftcore.Peer { p := tr.Self(); p.Key = nil; return p }

	t.Run("MembersWithTheSecretExchangeMessagesWithoutKnowingKeys", func(t *testing.T) {
		a, _ := newTestTransport(t, 1, withSecret(secret))
		b, _ := newTestTransport(t, 2, withSecret(secret))
		_ = a.AddPeer(keyless(b))
		_ = b.AddPeer(keyless(a))
		recorder(t, a)
		rb := recorder(t, b)
		// Both dial at start; a message sent while the handshakes race may
		// be dropped (raft retransmits), so send until one arrives.
		sendUntilDelivered(t, a, rb, 1, 2, 1, waitTimeout)
	})
	t.Run("NodeWithAnotherSecretIsRefused", func(t *testing.T) {
		a, _ := newTestTransport(t, 1, withSecret(other))
		b, _ := newTestTransport(t, 2, withSecret(secret))
		_ = a.AddPeer(keyless(b))
		ra, rb := recorder(t, a), recorder(t, b)
		a.Send([]*raftpb.Message{heartbeat(1, 2, 3)})
		// a refuses b's certificate before b even sees a's.
		ra.Wait(t, waitTimeout, "unreachable", func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		if _, _, err := a.dial(ctx, keyless(b), raftcore.ProtocolRaft); !errors.Is(err, ErrUntrustedPeer) {
			t.Fatalf("dial with another secret: %v, want ErrUntrustedPeer", err)
		}
		if len(rb.Messages()) != 0 {
			t.Fatal("message from a node with another secret delivered")
		}
	})
	t.Run("IdIsBoundToTheCertificate", func(t *testing.T) {
		a, _ := newTestTransport(t, 1, withSecret(secret))
		b, _ := newTestTransport(t, 2, withSecret(secret))
		c, _ := newTestTransport(t, 3, withSecret(secret))
		for _, x := range []*Transport{a, b, c} {
			for _, y := range []*Transport{a, b, c} {
				if x != y {
					_ = x.AddPeer(keyless(y))
				}
			}
		}
		recorder(t, c)
		rb := recorder(t, b)
		// c holds a certificate for id 3 and claims to be 1.
		c.Send([]*raftpb.Message{heartbeat(1, 2, 4), heartbeat(3, 2, 5)})
		rb.Wait(t, waitTimeout, "genuine heartbeat", hasTerm(3, 5))
		if got := b.Stats().SpoofedDropped; got != 1 {
			t.Fatalf("SpoofedDropped = %d, want 1", got)
		}
	})
	t.Run("RemovedIdIsRefusedDespiteTheSecret", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, withSecret(secret))
		recorder(t, b)
		key, _ := GenerateIdentity()
		b.RemovePeer(5)
		_, err := newRawClient(t, key, 5, secret).dial(t, b, raftcore.ProtocolRaft, nil)
		if err == nil {
			t.Fatal("removed node connected")
		}
	})
	t.Run("MemberKeyOverridesTheSecret", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, withSecret(secret))
		recorder(t, b)
		memberKey, _ := GenerateIdentity()
		_ = b.AddPeer(raftcore.Peer{ID: 5, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
		stolenSecretKey, _ := GenerateIdentity()
		_, err := newRawClient(t, stolenSecretKey, 5, secret).dial(t, b, raftcore.ProtocolRaft, nil)
		if err == nil {
			t.Fatal("a CA-signed certificate for member 5 with another key was accepted")
		}
		if _, err := newRawClient(t, memberKey, 5, nil).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
			t.Fatalf("member 5 with its pinned key was refused: %v", err)
		}
	})
}

func TestUnknownALPNIsRefusedInTheHandshake(t *testing.T) {
	b, _ := newTestTransport(t, 2, nil)
	memberKey, _ := GenerateIdentity()
	if err := b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)}); err != nil {
		t.Fatal(err)
	}
	recorder(t, b)
	client := newRawClient(t, memberKey, 1, nil)
	for _, alpn := range []string{"h3", "jangada/raft/2", raftcore.ProtocolMgmt} {
		if _, err := client.dial(t, b, alpn, nil); err == nil {
			t.Errorf("handshake for ALPN %q succeeded, want refusal", alpn)
		}
	}
	if _, err := client.dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
		t.Fatalf("handshake for the raft protocol failed: %v", err)
	}
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.dial(t, b, raftcore.ProtocolMgmt, nil); err != nil {
		t.Fatalf("handshake for a registered protocol failed: %v", err)
	}
}

func TestOpenStreamWithoutRemoteHandlerReportsNoHandler(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	link(t, a, b)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	_, err := a.OpenStream(ctx, b.Self(), raftcore.ProtocolDiscovery)
	if !errors.Is(err, ErrNoHandler) {
		t.Fatalf("OpenStream = %v, want ErrNoHandler", err)
	}
}

func TestHandshakesNeverResumeSessions(t *testing.T) {
	b, _ := newTestTransport(t, 2, nil)
	memberKey, _ := GenerateIdentity()
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	recorder(t, b)
	client := newRawClient(t, memberKey, 1, nil)
	cache := tls.NewLRUClientSessionCache(4)
	for i := range 2 {
		conn, err := client.dial(t, b, raftcore.ProtocolRaft, func(c *tls.Config) { c.ClientSessionCache = cache })
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if conn.ConnectionState().TLS.DidResume {
			t.Fatalf("connection %d resumed a TLS session: its certificate was not checked", i)
		}
		_ = conn.CloseWithError(0, "")
	}
}

func TestRemovedPeerIsDisconnectedAndRefused(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	link(t, a, b)
	ra, rb := recorder(t, a), recorder(t, b)
	a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	rb.Wait(t, waitTimeout, "heartbeat before removal", hasTerm(1, 1))

	b.RemovePeer(1)
	refused := b.Stats().HandshakesRefused
	// a keeps sending, as a removed node that has not noticed would.
	deadline := time.Now().Add(waitTimeout)
	for b.Stats().HandshakesRefused == refused {
		if time.Now().After(deadline) {
			t.Fatal("removed node was never refused")
		}
		a.Send([]*raftpb.Message{heartbeat(1, 2, 2)})
		_ = ra.WaitContext(t.Context(), 100*time.Millisecond, func(s *transporttest.RecorderState) bool { return false })
	}
	for _, m := range rb.Messages() {
		if m.GetTerm() == 2 {
			t.Fatal("message from a removed peer delivered")
		}
	}
}
