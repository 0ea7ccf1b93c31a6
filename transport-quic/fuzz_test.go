package transportquic

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(f, heartbeat(1, 2, 3)))
	f.Add(encodeBatch(f, transporttest.FullMessage(1, 2, 7), transporttest.NewMessage(1, 2, 9, []byte("x"))))
	f.Add([]byte{5, 1, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, payload []byte) {
		msgs, err := decodeBatch(payload)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if len(msgs) == 0 || len(msgs) > maxMessagesPerFrame {
			t.Fatalf("decoded %d messages", len(msgs))
		}
		// What decodes re-encodes into something that decodes the same.
		again, err := decodeBatch(encodeBatch(t, msgs...))
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-encoded batch: %d messages, %v", len(again), err)
		}
		for i := range msgs {
			if !proto.Equal(msgs[i], again[i]) {
				t.Fatalf("message %d changed across re-encoding", i)
			}
		}
	})
}

// FuzzMessageStream feeds arbitrary bytes through the receive path of a
// message stream: framing, then batch decoding.
func FuzzMessageStream(f *testing.F) {
	f.Add(codec.AppendFrame(nil, encodeBatch(f, heartbeat(1, 2, 3))))
	f.Add(codec.AppendFrame(codec.AppendFrame(nil, encodeBatch(f, heartbeat(1, 2, 3))), []byte{1, 0}))
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := codec.NewFrameReader(bytes.NewReader(stream), 4<<10)
		for {
			payload, err := fr.ReadFrame()
			if err != nil {
				if err != io.EOF && !isProtocolError(err) {
					t.Fatalf("unexpected error class: %v", err)
				}
				return
			}
			if _, err := decodeBatch(payload); err != nil {
				return
			}
		}
	})
}

func FuzzSnapshotStream(f *testing.F) {
	data := []byte("snapshot")
	valid := codec.AppendFrame(nil, append([]byte{snapshotData}, data...))
	valid = codec.AppendFrame(valid, appendSnapshotEnd(nil, uint64(len(data)), crc32Of(data)))
	f.Add(valid)
	f.Add(codec.AppendFrame(nil, appendSnapshotEnd(nil, 0, 0)))
	f.Add(codec.AppendFrame(nil, []byte{snapshotEnd}))
	f.Fuzz(func(t *testing.T, stream []byte) {
		fr := codec.NewFrameReader(bytes.NewReader(stream), 4<<10)
		r := &snapshotReader{read: fr.ReadFrame, max: 1 << 20}
		got, err := io.ReadAll(r)
		if err != nil {
			if r.done {
				t.Fatalf("reader both done and failed: %v", err)
			}
			return
		}
		// io.EOF was only returned after a matching end frame.
		if !r.done || r.total != uint64(len(got)) || r.sum != crc32Of(got) {
			t.Fatalf("accepted %d bytes without a matching end frame", len(got))
		}
	})
}

func FuzzNodeIDExtension(f *testing.F) {
	f.Add(encodeNodeID(1))
	f.Add(encodeNodeID(1 << 63))
	f.Add([]byte{1, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeNodeID(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeNodeID(id), b) {
			t.Fatalf("%x decodes to %d, which encodes to %x", b, id, encodeNodeID(id))
		}
	})
}

// FuzzPeerCertificate checks what a remote's certificate can do to the
// trust decision: parse failures are refusals, never panics; nothing carrying
// this node's id or key is accepted; a raft id is proved only by a member's
// pinned key or by a CA signature for a current keyless member; a removed id
// is never proved; and no raft connection is admitted without a member id.
func FuzzPeerCertificate(f *testing.F) {
	secret := bytes.Repeat([]byte{1}, 32)
	ca, err := deriveClusterCA(secret)
	if err != nil {
		f.Fatal(err)
	}
	const (
		self    = 7
		keyless = 3
		pinned  = 4
		removed = 5
	)
	selfKey, _ := GenerateIdentity()
	pinnedKey, _ := GenerateIdentity()
	other, _ := GenerateIdentity()
	for _, c := range []struct {
		key ed25519.PrivateKey
		id  uint64
		ca  ed25519.PrivateKey
	}{
		{other, keyless, ca}, {other, keyless, nil}, {other, self, ca}, {selfKey, self, nil},
		{pinnedKey, pinned, nil}, {pinnedKey, pinned, ca}, {other, removed, ca}, {other, 99, ca},
	} {
		cert, err := newCertificate(c.key, c.id, c.ca)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cert.Certificate[0], true)
		f.Add(cert.Certificate[0], false)
	}
	f.Fuzz(func(t *testing.T, der []byte, raft bool) {
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		store := newTrustStore(self, PublicKey(selfKey), nil, []ed25519.PublicKey{PublicKey(ca)})
		store.setMember(raftcore.Peer{ID: keyless, Addr: "127.0.0.1:1"})
		store.setMember(raftcore.Peer{ID: pinned, Addr: "127.0.0.1:1", Key: PublicKey(pinnedKey)})
		store.setMember(raftcore.Peer{ID: removed, Addr: "127.0.0.1:1"})
		store.removeMember(removed)
		cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		if raft {
			cs.NegotiatedProtocol = raftcore.ProtocolRaft
		}
		checked, checkErr := store.identify(cs, nil)
		remote, _, err := store.admit(cs, nil)
		if (checkErr == nil) != (err == nil) || checked.ID != remote.ID {
			t.Fatalf("identify (%d, %v) and admit (%d, %v) disagree", checked.ID, checkErr, remote.ID, err)
		}
		if err != nil {
			if !errors.Is(err, ErrUntrustedPeer) {
				t.Fatalf("refusal %v does not wrap ErrUntrustedPeer", err)
			}
			return
		}
		key := leaf.PublicKey.(ed25519.PublicKey)
		signedID, signed := signedNodeID(leaf, PublicKey(ca))
		switch {
		case key.Equal(PublicKey(selfKey)) || (signed && signedID == self):
			t.Fatalf("accepted a certificate carrying this node's own identity")
		case remote.ID == pinned && !key.Equal(PublicKey(pinnedKey)):
			t.Fatalf("member %d proved without its pinned key", pinned)
		case remote.ID == keyless && !(signed && signedID == keyless):
			t.Fatalf("keyless member %d proved without a CA signature for it", keyless)
		case remote.ID != 0 && remote.ID != pinned && remote.ID != keyless:
			t.Fatalf("proved id %d, which is no current member", remote.ID)
		case remote.ID == 0 && !signed:
			t.Fatalf("accepted a certificate that is neither a member key, allowed nor CA-signed")
		case raft && remote.ID == 0:
			t.Fatalf("admitted a raft connection without a member id")
		}
		// A second certificate for the same id with another key is now
		// refused.
		if remote.ID == keyless {
			impostor, _ := newCertificate(other, keyless, ca)
			if key.Equal(PublicKey(other)) {
				impostor, _ = newCertificate(pinnedKey, keyless, ca)
			}
			cs2 := tls.ConnectionState{PeerCertificates: []*x509.Certificate{impostor.Leaf}}
			if _, err := store.identify(cs2, nil); err == nil {
				t.Fatalf("a second key proved the bound member %d", keyless)
			}
		}
	})
}

// FuzzParseKey checks the printable key form: what parses is a key that
// formats back to the same text, modulo case and surrounding space.
func FuzzParseKey(f *testing.F) {
	key, _ := GenerateIdentity()
	f.Add(FormatKey(PublicKey(key)))
	f.Add(strings.ToUpper(FormatKey(PublicKey(key))) + "\n")
	f.Add("")
	f.Add(strings.Repeat("a", 52))
	f.Add(strings.Repeat("7", 53))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("parsed a key of %d bytes", len(k))
		}
		if again, err := ParseKey(FormatKey(k)); err != nil || !again.Equal(k) {
			t.Fatalf("%q parses to a key that does not round-trip: %v", s, err)
		}
	})
}

// FuzzParseIdentity checks the key file parser: anything it accepts is an
// ed25519 key that marshals and parses back to itself.
func FuzzParseIdentity(f *testing.F) {
	key, _ := GenerateIdentity()
	good, err := MarshalIdentity(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := ParseIdentity(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		again, err := MarshalIdentity(priv)
		if err != nil {
			t.Fatalf("parsed key does not marshal: %v", err)
		}
		back, err := ParseIdentity(again)
		if err != nil || !back.Equal(priv) {
			t.Fatalf("parsed key does not round-trip: %v", err)
		}
	})
}

// FuzzCheckPeer checks AddPeer's validation of a peer: it never panics, and
// what it accepts has a non-zero id, a key of the right size or none, and a
// host:port address with a port.
func FuzzCheckPeer(f *testing.F) {
	key, _ := GenerateIdentity()
	f.Add(uint64(1), "127.0.0.1:7001", []byte(PublicKey(key)))
	f.Add(uint64(2), "[::1]:7001", []byte(nil))
	f.Add(uint64(0), "node:1", []byte{1})
	f.Add(uint64(3), "no-port", []byte(nil))
	f.Add(uint64(4), "[::1", []byte(nil))
	f.Fuzz(func(t *testing.T, id uint64, addr string, key []byte) {
		err := checkPeer(raftcore.Peer{ID: id, Addr: addr, Key: key})
		if err != nil {
			return
		}
		_, port, splitErr := net.SplitHostPort(addr)
		if id == 0 || (len(key) != 0 && len(key) != ed25519.PublicKeySize) || splitErr != nil || port == "" {
			t.Fatalf("accepted peer %d %q with a %d-byte key", id, addr, len(key))
		}
	})
}

// FuzzSnapshotHeader feeds arbitrary bytes to the parser of a snapshot
// stream's first frame.
func FuzzSnapshotHeader(f *testing.F) {
	good, err := proto.Marshal(transporttest.NewSnapshotMessage(1, 2, 5))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	hb, _ := proto.Marshal(heartbeat(1, 2, 3))
	f.Add(hb)
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := decodeSnapshotHeader(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if msg.GetType() != raftpb.MessageType_MsgSnap {
			t.Fatalf("accepted a %v as snapshot header", msg.GetType())
		}
	})
}

// FuzzSnapshotVerdict feeds arbitrary bytes to the sender's parser of the
// receiver's verdict: only the one-byte acceptance accepts.
func FuzzSnapshotVerdict(f *testing.F) {
	f.Add([]byte{snapshotAccepted})
	f.Add(append([]byte{snapshotRefused}, "no"...))
	f.Add([]byte{})
	f.Add([]byte{snapshotAccepted, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := decodeVerdict(b)
		switch {
		case err == nil && !bytes.Equal(b, []byte{snapshotAccepted}):
			t.Fatalf("%x accepted as a verdict of acceptance", b)
		case err != nil && !errors.Is(err, ErrSnapshotRejected) && !errors.Is(err, ErrProtocol):
			t.Fatalf("error %v wraps neither ErrSnapshotRejected nor ErrProtocol", err)
		}
	})
}

func crc32Of(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// FuzzTrustDecisions runs a sequence of membership changes and handshakes
// (fresh keys or not, certificates signed by the cluster CA, another CA or
// nobody, for any id, raft or not) against a trust store and checks each
// decision against a model of the rules.
func FuzzTrustDecisions(f *testing.F) {
	const self = 1
	secret := bytes.Repeat([]byte{1}, 32)
	ca, err := deriveClusterCA(secret)
	if err != nil {
		f.Fatal(err)
	}
	otherCA, err := deriveClusterCA(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		f.Fatal(err)
	}
	var keys [4]ed25519.PrivateKey // keys[0] is this node's
	for i := range keys {
		keys[i], _ = GenerateIdentity()
	}
	// certs[key][id][signer]; signer 0: self-signed, 1: cluster CA, 2: another CA.
	var certs [4][6][3]*x509.Certificate
	for k := range keys {
		for id := 1; id <= 5; id++ {
			for signer, signerKey := range []ed25519.PrivateKey{nil, ca, otherCA} {
				c, err := newCertificate(keys[k], uint64(id), signerKey)
				if err != nil {
					f.Fatal(err)
				}
				certs[k][id][signer] = c.Leaf
			}
		}
	}
	f.Add([]byte{0, 0x02, 2, 0x29, 2, 0x2a, 1, 0x00, 2, 0x29}) // keyless 2: bound, impostor, removed, back
	f.Add([]byte{0, 0x33, 2, 0x07, 2, 0xa7, 2, 0x87, 0, 0x13}) // pinned 5, own id, raft
	f.Fuzz(func(t *testing.T, ops []byte) {
		store := newTrustStore(self, PublicKey(keys[0]), nil, []ed25519.PublicKey{PublicKey(ca)})
		members := map[uint64]int{} // id → pinned key index, or -1
		learned := map[uint64]int{}
		removed := map[uint64]bool{}
		keyHolder := func(k int, except uint64) bool { // k pinned or learned by another member
			for id, pk := range members {
				if id != except && (pk == k || learned[id] == k) {
					return true
				}
			}
			return false
		}
		for len(ops) >= 2 {
			op, arg := ops[0]%3, ops[1]
			ops = ops[2:]
			switch op {
			case 0: // AddPeer
				id := uint64(2 + arg%4)
				key := -1
				if arg&0x10 != 0 {
					key = 1 + int(arg>>5)%3
					if keyHolder(key, id) {
						continue // a key belongs to one member at most
					}
				}
				p := raftcore.Peer{ID: id, Addr: "127.0.0.1:1"}
				if key >= 0 {
					p.Key = PublicKey(keys[key])
					delete(learned, id)
				}
				store.setMember(p)
				members[id] = key
			case 1: // RemovePeer
				id := uint64(2 + arg%4)
				store.removeMember(id)
				delete(members, id)
				delete(learned, id)
				removed[id] = true
			case 2: // an inbound handshake
				k, id, signer, raft := int(arg%4), uint64(1+(arg>>2)%5), int(arg>>5)%3, arg&0x80 != 0
				cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{certs[k][id][signer]}}
				if raft {
					cs.NegotiatedProtocol = raftcore.ProtocolRaft
				}
				remote, bound, err := store.admit(cs, nil)
				byCA := signer == 1
				// What the model says must happen.
				var want uint64
				ok := false
				switch {
				case k == 0 || (byCA && id == self):
				default:
					for m, pk := range members {
						if pk == k && (!byCA || id == m) {
							want, ok = m, true
						}
						if l, has := learned[m]; has && l == k && (!byCA || id == m) {
							want, ok = m, true
						}
					}
					if !ok && byCA && !removed[id] && !keyHolder(k, 0) {
						pk, isMember := members[id]
						l, has := learned[id]
						switch {
						case isMember && pk < 0 && (!has || l == k):
							want, ok = id, true
						case !isMember && !raft:
							want, ok = 0, true
						}
					}
				}
				if ok != (err == nil) || (ok && remote.ID != want) {
					t.Fatalf("key %d, cert for %d signer %d, raft %v: got id %d, err %v; model: ok %v, id %d (members %v learned %v removed %v)",
						k, id, signer, raft, remote.ID, err, ok, want, members, learned, removed)
				}
				if bound {
					if _, had := learned[remote.ID]; had || members[remote.ID] >= 0 {
						t.Fatalf("bound member %d again", remote.ID)
					}
					learned[remote.ID] = k
				}
			}
		}
	})
}
