package transportquic

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
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
// trust decision: parse failures are refusals, never panics, and nothing
// but a member key or a CA signature is ever accepted.
func FuzzPeerCertificate(f *testing.F) {
	secret := bytes.Repeat([]byte{1}, 32)
	ca, err := deriveClusterCA(secret)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := GenerateIdentity()
	for _, signer := range []any{nil, ca} {
		var caKey []byte
		if signer != nil {
			caKey = ca
		}
		cert, err := newCertificate(key, 3, caKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cert.Certificate[0])
	}
	self, _ := GenerateIdentity()
	store := newTrustStore(7, PublicKey(self), nil, []ed25519.PublicKey{PublicKey(ca)})
	f.Fuzz(func(t *testing.T, der []byte) {
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		remote, err := store.identify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, nil)
		if err != nil {
			return
		}
		if id, ok := signedNodeID(leaf, PublicKey(ca)); !ok || id != remote.ID {
			t.Fatalf("accepted a certificate the CA did not sign for node %d", remote.ID)
		}
	})
}

func crc32Of(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
