package transportquic

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/raftwire"
)

// Wire format of the jangada/raft/1 protocol.
//
// Every stream on a raft connection is opened by the dialling node and starts
// with one kind byte. The rest is codec frames (length, CRC-32C, payload):
//
//   - streamMessages: each frame is a batch of raft messages, each one an
//     unsigned varint length followed by the protobuf-encoded raftpb.Message.
//   - streamSnapshot: the first frame is the protobuf-encoded MsgSnap; then
//     data frames (tag snapshotData, then bytes) and one end frame (tag
//     snapshotEnd, varint total length, 4-byte big-endian CRC-32C of all
//     data). The receiver answers with one frame: a status byte and, when the
//     snapshot was rejected, a reason.
const (
	streamMessages byte = 1
	streamSnapshot byte = 2

	// streamWelcome is the only byte of the stream a server opens once it
	// has accepted the client's identity.
	streamWelcome byte = 0x57

	// streamOpened is the first byte of every stream of the other protocols
	// (jangada/mgmt/1 and the like); the handler sees what follows.
	streamOpened byte = 1

	snapshotData byte = 'd'
	snapshotEnd  byte = 'e'

	snapshotAccepted byte = 0
	snapshotRefused  byte = 1

	// maxMessagesPerFrame bounds the messages decoded from one frame, so a
	// frame of empty messages cannot make the receiver allocate millions of
	// structs. Senders never put more into one frame.
	maxMessagesPerFrame = 1024
	// maxResponseSize bounds the snapshot response frame.
	maxResponseSize = 4 << 10
)

// QUIC application error codes, visible to the remote when a stream or
// connection is aborted.
const (
	codeNormal        = 0
	codeProtocolError = 1
	codeUntrusted     = 2
	codeRemoved       = 3
	codeShutdown      = 4
	codeCanceled      = 5
	codeTooMany       = 6 // a connection or stream limit was exceeded
	codeTimeout       = 7 // a stream made no progress within ReadTimeout
)

// appendMessage appends m to a batch. size must be raftwire.SizeMessage(m).
func appendMessage(dst []byte, m *raftpb.Message, size int) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(size))
	start := len(dst)
	dst, err := raftwire.AppendMessage(dst, m)
	if err != nil {
		return dst[:start], err
	}
	if len(dst)-start != size {
		// The message changed between Size and AppendMessage; the length
		// prefix is wrong, so the batch must not go out with it.
		return dst, fmt.Errorf("transportquic: message changed while being encoded")
	}
	return dst, nil
}

// decodeBatch decodes a frame of length-prefixed messages. It never panics on
// malformed input; it returns an error wrapping ErrProtocol.
func decodeBatch(payload []byte) ([]*raftpb.Message, error) {
	var msgs []*raftpb.Message
	for len(payload) > 0 {
		if len(msgs) == maxMessagesPerFrame {
			return nil, fmt.Errorf("%w: more than %d messages in one frame", ErrProtocol, maxMessagesPerFrame)
		}
		size, n := binary.Uvarint(payload)
		if n <= 0 || size > uint64(len(payload)-n) {
			return nil, fmt.Errorf("%w: bad message length", ErrProtocol)
		}
		m, err := raftwire.UnmarshalMessage(payload[n : n+int(size)])
		if err != nil {
			return nil, fmt.Errorf("%w: message: %w", ErrProtocol, err)
		}
		msgs = append(msgs, m)
		payload = payload[n+int(size):]
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrProtocol)
	}
	return msgs, nil
}

// decodeSnapshotEnd parses the payload of an end frame (after its tag).
func decodeSnapshotEnd(b []byte) (total uint64, sum uint32, err error) {
	total, n := binary.Uvarint(b)
	if n <= 0 || len(b)-n != 4 {
		return 0, 0, fmt.Errorf("%w: malformed snapshot end frame", ErrProtocol)
	}
	return total, binary.BigEndian.Uint32(b[n:]), nil
}

func appendSnapshotEnd(dst []byte, total uint64, sum uint32) []byte {
	dst = append(dst, snapshotEnd)
	dst = binary.AppendUvarint(dst, total)
	return binary.BigEndian.AppendUint32(dst, sum)
}

// isControl reports whether m travels on the control stream, where it is
// never queued behind large appends.
func isControl(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MessageType_MsgApp, raftpb.MessageType_MsgProp:
		return false
	}
	return true
}
