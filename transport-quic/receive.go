package transportquic

import (
	"bufio"
	"errors"
	"io"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/codec"
)

// serveRaftStream reads one stream of an inbound jangada/raft/1 connection.
func (t *Transport) serveRaftStream(conn *quic.Conn, remote remoteIdentity, stream *quic.Stream) {
	r := bufio.NewReaderSize(stream, 32<<10)
	kind, err := r.ReadByte()
	if err != nil {
		stream.CancelRead(codeCanceled)
		stream.CancelWrite(codeCanceled)
		return
	}
	switch kind {
	case streamMessages:
		stream.CancelWrite(codeNormal) // nothing is ever sent back
		t.readMessages(remote, stream, r)
	case streamSnapshot:
		t.receiveSnapshot(conn, remote, stream, r)
	default:
		t.protocolViolation(stream, remote, errors.New("unknown stream kind"))
	}
}

// readMessages delivers the batches of a message stream until it ends. A bad
// frame closes the stream (the sender opens a new one); it never takes down
// the connection or the node.
func (t *Transport) readMessages(remote remoteIdentity, stream *quic.Stream, r io.Reader) {
	fr := codec.NewFrameReader(r, t.cfg.MaxFrameSize)
	for {
		payload, err := fr.ReadFrame()
		if err != nil {
			if isProtocolError(err) {
				t.protocolViolation(stream, remote, err)
			} else {
				stream.CancelRead(codeNormal)
			}
			return
		}
		msgs, err := decodeBatch(payload)
		if err != nil {
			t.protocolViolation(stream, remote, err)
			return
		}
		t.deliver(remote, msgs)
	}
}

// isProtocolError tells a peer's bad frame from a closed stream.
func isProtocolError(err error) bool {
	return errors.Is(err, codec.ErrFrameTooLarge) || errors.Is(err, codec.ErrChecksum) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrProtocol)
}

func (t *Transport) protocolViolation(stream *quic.Stream, remote remoteIdentity, err error) {
	t.stats.malformedFrames.Add(1)
	t.log.Warn("closing stream after protocol violation", "peer", remote.ID, "key", FormatKey(remote.Key), "error", err)
	stream.CancelRead(codeProtocolError)
	stream.CancelWrite(codeProtocolError)
}

// deliver hands msgs to the handler after dropping those whose From is not
// the authenticated sender, or whose To is not this node.
func (t *Transport) deliver(remote remoteIdentity, msgs []*raftpb.Message) {
	kept := msgs[:0]
	for _, m := range msgs {
		switch {
		case remote.ID == 0 || m.GetFrom() != remote.ID:
			t.stats.spoofedDropped.Add(1)
			t.log.Warn("dropped message with spoofed sender", "authenticated", remote.ID, "from", m.GetFrom())
		case m.GetTo() != t.cfg.NodeID:
			t.stats.misaddressedDropped.Add(1)
		case m.GetType() == raftpb.MessageType_MsgSnap:
			// Snapshots only count with their data, on a snapshot stream.
			t.stats.malformedFrames.Add(1)
		default:
			kept = append(kept, m)
		}
	}
	h := t.currentHandler()
	if len(kept) == 0 || h == nil {
		return
	}
	t.stats.messagesReceived.Add(uint64(len(kept)))
	h.HandleMessages(kept)
}
