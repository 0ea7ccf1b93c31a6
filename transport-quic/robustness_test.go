package transportquic

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

func encodeBatch(t testing.TB, msgs ...*raftpb.Message) []byte {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = appendMessage(b, m, proto.Size(m)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestBadFrameClosesOnlyItsStream(t *testing.T) {
	const maxFrame = 64 << 10
	valid := encodeBatch(t, heartbeat(1, 2, 1))
	corrupt := codec.AppendFrame([]byte{streamMessages}, valid)
	corrupt[len(corrupt)-1] ^= 0xff
	oversized := []byte{streamMessages}
	oversized = binary.BigEndian.AppendUint32(oversized, maxFrame+1)
	oversized = binary.BigEndian.AppendUint32(oversized, 0)
	full := codec.AppendFrame([]byte{streamMessages}, valid)
	tooMany := make([]byte, maxMessagesPerFrame+1) // empty messages

	tests := []struct {
		name  string
		bytes []byte
		fin   bool // the sender ends the stream after the bytes
	}{
		{"UnknownStreamKind", []byte{9, 0, 0, 0}, false},
		{"ChecksumMismatch", corrupt, false},
		{"FrameLargerThanMaxFrameSize", oversized, false},
		{"TruncatedFrame", full[:len(full)-3], true},
		{"TruncatedHeader", full[:5], true},
		{"MessageLengthBeyondFrame", codec.AppendFrame([]byte{streamMessages}, []byte{5, 1, 2}), false},
		{"InvalidProtobuf", codec.AppendFrame([]byte{streamMessages}, []byte{3, 0xff, 0xff, 0xff}), false},
		{"EmptyFrame", codec.AppendFrame([]byte{streamMessages}, nil), false},
		{"TooManyMessagesInOneFrame", codec.AppendFrame([]byte{streamMessages}, tooMany), false},
		{"SnapshotHeaderNotAMessage", codec.AppendFrame([]byte{streamSnapshot}, []byte{0xff, 0xff}), false},
		{"SnapshotHeaderNotMsgSnap", codec.AppendFrame([]byte{streamSnapshot}, []byte{}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestTransport(t, 2, func(c *Config) { c.MaxFrameSize = maxFrame; c.SnapshotChunkSize = 16 << 10 })
			memberKey, _ := GenerateIdentity()
			if err := b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)}); err != nil {
				t.Fatal(err)
			}
			rb := recorder(t, b)
			conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
			if err != nil {
				t.Fatal(err)
			}
			bad := openRaw(t, conn)
			if _, err := bad.Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			if tt.fin {
				_ = bad.Close()
			}
			clustertest.WaitFor(t, "malformed frame counted", waitTimeout, func() bool { return b.Stats().MalformedFrames == 1 })
			if !tt.fin {
				<-bad.Context().Done()
				var serr *quic.StreamError
				if cause := context.Cause(bad.Context()); !errors.As(cause, &serr) || serr.ErrorCode != codeProtocolError {
					t.Errorf("bad stream ended with %v, want a protocol error from the receiver", cause)
				}
			}
			// The connection and the node survive: a good stream still works.
			good := openRaw(t, conn)
			if _, err := good.Write(full); err != nil {
				t.Fatal(err)
			}
			rb.Wait(t, waitTimeout, "message on a good stream", hasTerm(1, 1))
		})
	}
}

func openRaw(t testing.TB, conn *quic.Conn) *quic.Stream {
	t.Helper()
	s, err := conn.OpenStreamSync(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.CancelWrite(0); s.CancelRead(0) })
	return s
}

func TestMisaddressedMessageIsDroppedAndCounted(t *testing.T) {
	b, _ := newTestTransport(t, 2, nil)
	memberKey, _ := GenerateIdentity()
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	rb := recorder(t, b)
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := openRaw(t, conn)
	frame := codec.AppendFrame([]byte{streamMessages}, encodeBatch(t, heartbeat(1, 3, 1), heartbeat(1, 2, 2)))
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	rb.Wait(t, waitTimeout, "well-addressed message", hasTerm(1, 2))
	if got := b.Stats().MisaddressedDropped; got != 1 {
		t.Fatalf("MisaddressedDropped = %d, want 1", got)
	}
	if n := len(rb.Messages()); n != 1 {
		t.Fatalf("delivered %d messages, want 1", n)
	}
}

func TestCorruptSnapshotIsRejected(t *testing.T) {
	b, _ := newTestTransport(t, 2, nil)
	memberKey, _ := GenerateIdentity()
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	rb := recorder(t, b)
	bodyErr := make(chan error, 1)
	rb.OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
		_, err := io.Copy(io.Discard, body)
		bodyErr <- err
		return err
	})
	header, err := proto.Marshal(transporttest.NewSnapshotMessage(1, 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("snapshot data")
	tests := []struct {
		name string
		end  []byte
	}{
		{"WrongLength", appendSnapshotEnd(nil, uint64(len(data)+1), crc32Of(data))},
		{"WrongChecksum", appendSnapshotEnd(nil, uint64(len(data)), crc32Of(data)+1)},
		{"MalformedEnd", []byte{snapshotEnd, 1}},
		{"UnknownTag", []byte{'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := openRaw(t, conn)
			stream := codec.AppendFrame([]byte{streamSnapshot}, header)
			stream = codec.AppendFrame(stream, append([]byte{snapshotData}, data...))
			stream = codec.AppendFrame(stream, tt.end)
			if _, err := s.Write(stream); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			if err := transporttest.WaitClosed(t, bodyErr, waitTimeout, "handler reading the body"); !errors.Is(err, ErrProtocol) {
				t.Fatalf("body read returned %v, want ErrProtocol", err)
			}
			verdict, err := codec.NewFrameReader(s, maxResponseSize).ReadFrame()
			if err != nil || len(verdict) == 0 || verdict[0] != snapshotRefused {
				t.Fatalf("verdict %q (%v), want a refusal", verdict, err)
			}
		})
	}
}
