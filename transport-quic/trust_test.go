package transportquic

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// frameOf returns msgs as one frame of a message stream.
func frameOf(t testing.TB, msgs ...*raftpb.Message) []byte {
	t.Helper()
	return codec.AppendFrame(nil, encodeBatch(t, msgs...))
}

var (
	testSecret    = bytes.Repeat([]byte{7}, 32)
	testNewSecret = bytes.Repeat([]byte{9}, 32)
)

func withSecret(s []byte) func(*Config) { return func(c *Config) { c.ClusterSecret = s } }

func keyless(tr *Transport) raftcore.Peer { p := tr.Self(); p.Key = nil; return p }

func mustKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// learnedKeys records OnKeyLearned calls.
type learnedKeys struct {
	mu   sync.Mutex
	keys map[uint64][]ed25519.PublicKey
}

func (l *learnedKeys) record(id uint64, key ed25519.PublicKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = make(map[uint64][]ed25519.PublicKey)
	}
	l.keys[id] = append(l.keys[id], key)
}

func (l *learnedKeys) get(id uint64) []ed25519.PublicKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[id]
}

func TestCertificateForOwnIdentityIsRefused(t *testing.T) {
	t.Run("CASignedCertificateForOwnID", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, withSecret(testSecret))
		recorder(t, b)
		if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
			t.Fatal(err)
		}
		forger := newRawClient(t, mustKey(t), 2, testSecret)
		for _, proto := range []string{raftcore.ProtocolRaft, raftcore.ProtocolMgmt} {
			if _, err := forger.dial(t, b, proto, nil); err == nil {
				t.Errorf("%s: a CA-signed certificate for the node's own id was accepted", proto)
			}
		}
	})
	t.Run("OwnKey", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, nil)
		recorder(t, b)
		// A member misconfigured with b's own key must not make it trusted.
		if err := b.AddPeer(raftcore.Peer{ID: 3, Addr: "127.0.0.1:9", Key: b.PublicKey()}); err != nil {
			t.Fatal(err)
		}
		if _, err := newRawClient(t, b.cfg.Identity, 3, nil).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Error("a remote presenting the node's own key was accepted")
		}
	})
	t.Run("Outbound", func(t *testing.T) {
		a, _ := newTestTransport(t, 1, withSecret(testSecret))
		// Another node that claims a's id.
		c, _ := newTestTransport(t, 1, withSecret(testSecret))
		recorder(t, c)
		if err := c.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		_, _, err := a.dial(ctx, raftcore.Peer{ID: 1, Addr: c.Addr().String()}, raftcore.ProtocolMgmt)
		if !errors.Is(err, ErrUntrustedPeer) {
			t.Fatalf("dialling a node that proves this node's own id: %v, want ErrUntrustedPeer", err)
		}
	})
}

func TestClusterSecretProvesOnlyCurrentMembers(t *testing.T) {
	t.Run("UnknownIDGetsNoRaftConnection", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, withSecret(testSecret))
		rb := recorder(t, b)
		remotes := make(chan raftcore.Peer, 1)
		if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(remotes)); err != nil {
			t.Fatal(err)
		}
		stranger := newRawClient(t, mustKey(t), 9, testSecret)
		if _, err := stranger.dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Fatal("a CA certificate for an id that is no member's opened a raft connection")
		}
		// It may still reach management, as a remote without raft id.
		conn, err := stranger.dial(t, b, raftcore.ProtocolMgmt, nil)
		if err != nil {
			t.Fatalf("management connection of a secret holder: %v", err)
		}
		s := openRaw(t, conn)
		if _, err := s.Write([]byte{streamOpened, 'x'}); err != nil {
			t.Fatal(err)
		}
		if remote := transporttest.WaitClosed(t, remotes, waitTimeout, "handler's remote"); remote.ID != 0 {
			t.Fatalf("handler saw remote id %d, want 0", remote.ID)
		}
		if n := len(rb.Messages()); n != 0 {
			t.Fatalf("%d messages delivered", n)
		}
	})
	t.Run("RemovedIDIsRefusedEvenWhenAddedBackWithoutKey", func(t *testing.T) {
		b, _ := newTestTransport(t, 2, withSecret(testSecret))
		recorder(t, b)
		key := mustKey(t)
		_ = b.AddPeer(raftcore.Peer{ID: 5, Addr: "127.0.0.1:9"})
		if _, err := newRawClient(t, key, 5, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
			t.Fatalf("member 5 before its removal: %v", err)
		}
		b.RemovePeer(5)
		if _, err := newRawClient(t, key, 5, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Fatal("removed member connected")
		}
		_ = b.AddPeer(raftcore.Peer{ID: 5, Addr: "127.0.0.1:9"})
		if _, err := newRawClient(t, mustKey(t), 5, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Fatal("a CA certificate for a removed id was accepted after the id was added back")
		}
	})
	t.Run("RemovedNodeMintingAFreshIDIsRefused", func(t *testing.T) {
		a, _ := newTestTransport(t, 1, withSecret(testSecret))
		b, _ := newTestTransport(t, 2, withSecret(testSecret))
		_ = a.AddPeer(keyless(b))
		_ = b.AddPeer(keyless(a))
		recorder(t, a)
		rb := recorder(t, b)
		a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
		rb.Wait(t, waitTimeout, "heartbeat before removal", hasTerm(1, 1))
		b.RemovePeer(1)
		// The removed node keeps its key and the secret and mints id 6.
		for _, id := range []uint64{1, 6} {
			if _, err := newRawClient(t, a.cfg.Identity, id, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
				t.Errorf("removed node connected as node %d", id)
			}
			if _, err := newRawClient(t, mustKey(t), id, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
				t.Errorf("removed node connected as node %d with a fresh key", id)
			}
		}
	})
	t.Run("KeylessMemberIsBoundToTheFirstKeyThatProvesIt", func(t *testing.T) {
		var learned learnedKeys
		b, _ := newTestTransport(t, 2, func(c *Config) { c.ClusterSecret = testSecret; c.OnKeyLearned = learned.record })
		rb := recorder(t, b)
		_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9"})
		first := mustKey(t)
		for i := range 2 {
			if _, err := newRawClient(t, first, 1, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
				t.Fatalf("connection %d of member 1: %v", i, err)
			}
		}
		if got := learned.get(1); len(got) != 1 || !got[0].Equal(PublicKey(first)) {
			t.Fatalf("OnKeyLearned(1, …) calls: %d, want one with the first key", len(got))
		}
		impostor := newRawClient(t, mustKey(t), 1, testSecret)
		conn, err := impostor.dial(t, b, raftcore.ProtocolRaft, nil)
		if err == nil {
			s := openRaw(t, conn)
			frame := append([]byte{streamMessages}, frameOf(t, heartbeat(1, 2, 7))...)
			_, _ = s.Write(frame)
			t.Fatal("another key for bound member 1 was accepted")
		}
		if n := len(rb.Messages()); n != 0 {
			t.Fatalf("%d messages delivered", n)
		}
		// A pinned key from the membership replaces the learned one.
		pinned := mustKey(t)
		_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(pinned)})
		if _, err := newRawClient(t, first, 1, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Fatal("the learned key still proves member 1 after a pinned key replaced it")
		}
		if _, err := newRawClient(t, pinned, 1, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
			t.Fatalf("pinned key of member 1: %v", err)
		}
	})
	t.Run("DialBindsKeylessMember", func(t *testing.T) {
		var learned learnedKeys
		a, _ := newTestTransport(t, 1, func(c *Config) { c.ClusterSecret = testSecret; c.OnKeyLearned = learned.record })
		b, _ := newTestTransport(t, 2, withSecret(testSecret))
		_ = a.AddPeer(keyless(b))
		_ = b.AddPeer(keyless(a))
		recorder(t, a)
		rb := recorder(t, b)
		a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
		rb.Wait(t, waitTimeout, "heartbeat", hasTerm(1, 1))
		if got := learned.get(2); len(got) != 1 || !got[0].Equal(b.PublicKey()) {
			t.Fatalf("a learned %d keys for node 2, want b's key once", len(got))
		}
	})
}

func TestClusterSecretRotation(t *testing.T) {
	member := mustKey(t)
	serve := func(t *testing.T, edit func(*Config)) *Transport {
		b, _ := newTestTransport(t, 2, edit)
		recorder(t, b)
		_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9"})
		return b
	}
	t.Run("DuringTheRolloutBothSecretsAreAccepted", func(t *testing.T) {
		b := serve(t, func(c *Config) { c.ClusterSecret = testNewSecret; c.AcceptedClusterSecrets = [][]byte{testSecret} })
		for _, secret := range [][]byte{testSecret, testNewSecret} {
			if _, err := newRawClient(t, member, 1, secret).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
				t.Fatalf("certificate under secret %x…: %v", secret[:1], err)
			}
		}
	})
	t.Run("AfterTheRolloutTheOldSecretIsRefused", func(t *testing.T) {
		b := serve(t, withSecret(testNewSecret))
		if _, err := newRawClient(t, member, 1, testSecret).dial(t, b, raftcore.ProtocolRaft, nil); err == nil {
			t.Fatal("certificate under the old secret accepted")
		}
		if _, err := newRawClient(t, member, 1, testNewSecret).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
			t.Fatalf("certificate under the new secret: %v", err)
		}
	})
	t.Run("NodesInDifferentPhasesTalk", func(t *testing.T) {
		// a has not switched yet but accepts the new secret; b presents the
		// new one and still accepts the old.
		a, _ := newTestTransport(t, 1, func(c *Config) { c.ClusterSecret = testSecret; c.AcceptedClusterSecrets = [][]byte{testNewSecret} })
		b, _ := newTestTransport(t, 2, func(c *Config) { c.ClusterSecret = testNewSecret; c.AcceptedClusterSecrets = [][]byte{testSecret} })
		_ = a.AddPeer(keyless(b))
		_ = b.AddPeer(keyless(a))
		ra, rb := recorder(t, a), recorder(t, b)
		a.Send([]*raftpb.Message{heartbeat(1, 2, 3)})
		b.Send([]*raftpb.Message{heartbeat(2, 1, 4)})
		rb.Wait(t, waitTimeout, "a's heartbeat", hasTerm(1, 3))
		ra.Wait(t, waitTimeout, "b's heartbeat", hasTerm(2, 4))
	})
}

func TestRemovalDuringAdmissionClosesTheConnection(t *testing.T) {
	memberKey := mustKey(t)
	var target atomic.Pointer[Transport]
	var once sync.Once
	b, _ := newTestTransport(t, 2, func(c *Config) {
		// RemovePeer lands between the handshake's check and the
		// registration of the connection.
		c.testHookBeforeAdmit = func() { once.Do(func() { target.Load().RemovePeer(1) }) }
	})
	target.Store(b)
	rb := recorder(t, b)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err == nil {
		s := openRaw(t, conn)
		_, _ = s.Write(append([]byte{streamMessages}, frameOf(t, heartbeat(1, 2, 1))...))
		t.Fatal("connection of a peer removed during its admission was accepted")
	}
	if n := len(rb.Messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

func TestRemovePeerClosesStreamsOpenedToIt(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	link(t, a, b)
	recorder(t, a)
	recorder(t, b)
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	s, err := a.OpenStream(ctx, b.Self(), raftcore.ProtocolMgmt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a.RemovePeer(2)
	readErr := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(s)
		readErr <- err
	}()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("stream to a removed peer ended cleanly, want it aborted")
		}
	case <-time.After(waitTimeout):
		s.Close() // ends the reader
		<-readErr
		t.Fatal("stream to a removed peer still open")
	}
}

func TestLearnedKeyOutlivesItsIndexEntry(t *testing.T) {
	ca, err := deriveClusterCA(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	self, key := mustKey(t), mustKey(t)
	store := newTrustStore(1, PublicKey(self), nil, []ed25519.PublicKey{PublicKey(ca)})
	cert, err := newCertificate(key, 4, ca)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
	store.setMember(raftcore.Peer{ID: 4, Addr: "127.0.0.1:1"})
	if _, learned, err := store.admit(cs, nil); err != nil || !learned {
		t.Fatalf("first proof of member 4: learned %v, %v", learned, err)
	}
	// Another member briefly pinned the same key, which moves the key's
	// index entry to it and then drops it.
	store.setMember(raftcore.Peer{ID: 5, Addr: "127.0.0.1:1", Key: PublicKey(key)})
	store.removeMember(5)
	if remote, _, err := store.admit(cs, nil); err != nil || remote.ID != 4 {
		t.Fatalf("member 4 with the key it proved first: id %d, %v", remote.ID, err)
	}
}

// TestDialsOfNonMembersInSecretMode: a management client in cluster-secret
// mode knows no members. Dialling an address it accepts any holder of the
// secret; dialling an id (perhaps with the key a leader redirect named) it
// accepts that id only, with that key; a raft connection is never made so.
func TestDialsOfNonMembersInSecretMode(t *testing.T) {
	ca, err := deriveClusterCA(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	self, key, other := mustKey(t), mustKey(t), mustKey(t)
	store := newTrustStore(1<<62, PublicKey(self), nil, []ed25519.PublicKey{PublicKey(ca)})
	cert, err := newCertificate(key, 4, ca)
	if err != nil {
		t.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}, NegotiatedProtocol: raftcore.ProtocolMgmt}
	cases := []struct {
		name string
		want raftcore.Peer
		id   uint64 // 0: refused
	}{
		{"an address", raftcore.Peer{Addr: "127.0.0.1:1"}, 4},
		{"the id", raftcore.Peer{ID: 4, Addr: "127.0.0.1:1"}, 4},
		{"the id and its key", raftcore.Peer{ID: 4, Addr: "127.0.0.1:1", Key: PublicKey(key)}, 4},
		{"the id and another key", raftcore.Peer{ID: 4, Addr: "127.0.0.1:1", Key: PublicKey(other)}, 0},
		{"another id", raftcore.Peer{ID: 5, Addr: "127.0.0.1:1"}, 0},
	}
	for _, c := range cases {
		remote, _, err := store.admit(cs, &c.want)
		if got := remote.ID; (err == nil) != (c.id != 0) || got != c.id || (err == nil && !remote.SecretHolder) {
			t.Errorf("dialling %s: id %d secret holder %v, %v; want id %d", c.name, got, remote.SecretHolder, err, c.id)
		}
	}
	raft := cs
	raft.NegotiatedProtocol = raftcore.ProtocolRaft
	if _, _, err := store.admit(raft, &raftcore.Peer{Addr: "127.0.0.1:1"}); err == nil {
		t.Error("a raft connection to an address alone was accepted")
	}
}
