package transportquic

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/codec"
)

// maxRetainedFrameBuffer is the largest receive buffer a stream keeps for
// its next frame. A stream that received a larger frame gives its buffer
// back, so one huge message does not pin its memory for the stream's life.
const maxRetainedFrameBuffer = 1 << 20

// serveRaftStream reads one stream of an inbound jangada/raft/1 connection.
func (t *Transport) serveRaftStream(conn *quic.Conn, in *inboundConn, stream *quic.Stream) {
	src := t.newFrameSource(conn.Context(), stream, in.limits.frames)
	defer src.close()
	remote := in.remote
	src.arm(true)
	kind, err := src.r.ReadByte()
	if err != nil {
		t.streamFailed(stream, remote, err)
		return
	}
	switch kind {
	case streamMessages:
		stream.CancelWrite(codeNormal) // nothing is ever sent back
		t.readMessages(remote, stream, src)
	case streamSnapshot:
		t.receiveSnapshot(conn, remote, stream, src)
	default:
		t.protocolViolation(stream, remote, errors.New("unknown stream kind"))
	}
}

// readMessages delivers the batches of a message stream until it ends. A bad
// frame closes the stream (the sender opens a new one); it never takes down
// the connection or the node.
func (t *Transport) readMessages(remote remoteIdentity, stream *quic.Stream, src *frameSource) {
	for {
		// Between frames the stream may stay idle for as long as the
		// connection lives.
		payload, err := src.next(true)
		if err != nil {
			t.streamFailed(stream, remote, err)
			return
		}
		msgs, err := decodeBatch(payload)
		src.settle()
		if err != nil {
			t.protocolViolation(stream, remote, err)
			return
		}
		t.deliver(remote, msgs)
	}
}

// streamFailed ends a stream whose read failed, classifying why.
func (t *Transport) streamFailed(stream *quic.Stream, remote remoteIdentity, err error) {
	switch {
	case isProtocolError(err):
		t.protocolViolation(stream, remote, err)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errFrameBudget):
		t.stats.limitsHit.Add(1)
		t.log.Warn("closing stalled stream", "peer", remote.ID, "key", FormatKey(remote.Key), "error", err)
		stream.CancelRead(codeTimeout)
		stream.CancelWrite(codeTimeout)
	default:
		stream.CancelRead(codeNormal)
		stream.CancelWrite(codeNormal)
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
		case remote.ID == 0 || m.GetFrom() != remote.ID || m.GetFrom() == t.cfg.NodeID:
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

// errFrameBudget is the cause of a stream closed because its remote's frames
// held MaxFrameBytesPerPeer for longer than ReadTimeout.
var errFrameBudget = errors.New("transportquic: frame memory of the remote exhausted")

// frameSource reads the frames of one inbound raft stream within the
// remote's frame memory budget and the read deadlines.
type frameSource struct {
	t      *Transport
	ctx    context.Context // the connection's: the wait for memory ends with it
	stream *quic.Stream
	dr     *deadlineReader
	r      *bufio.Reader
	fr     *codec.FrameReader
	budget *byteBudget
	held   int64 // bytes of budget this stream holds: at least its buffer's capacity
	bufCap int   // capacity of the frame reader's buffer after the last frame
}

func (t *Transport) newFrameSource(ctx context.Context, stream *quic.Stream, budget *byteBudget) *frameSource {
	dr := &deadlineReader{s: stream, timeout: t.cfg.ReadTimeout}
	r := bufio.NewReaderSize(dr, 32<<10)
	return &frameSource{
		t:      t,
		ctx:    ctx,
		stream: stream,
		dr:     dr,
		r:      r,
		fr:     codec.NewFrameReader(r, t.cfg.MaxFrameSize),
		budget: budget,
	}
}

// arm turns the progress deadline on or off for the reads that follow.
func (f *frameSource) arm(on bool) { f.dr.armed = on }

// next reads the next frame. With idleOK, the wait for the frame to begin is
// unbounded; once its header arrived, every read must make progress within
// ReadTimeout. The payload is valid until the next call; call settle once it
// is no longer used.
func (f *frameSource) next(idleOK bool) ([]byte, error) {
	f.arm(!idleOK)
	header, err := f.r.Peek(codec.FrameHeaderSize)
	f.arm(true)
	if err != nil {
		// Let the frame reader classify the truncation or the end.
		return f.fr.ReadFrame()
	}
	if size := int64(binary.BigEndian.Uint32(header)); size <= int64(f.t.cfg.MaxFrameSize) && size > f.held {
		// The buffer must grow: give the old one back first, so that no
		// stream waits for memory while holding some.
		f.fr = codec.NewFrameReader(f.r, f.t.cfg.MaxFrameSize)
		f.bufCap = 0
		f.budget.release(f.held)
		f.held = 0
		ctx, cancel := context.WithTimeoutCause(f.ctx, f.t.cfg.ReadTimeout, errFrameBudget)
		err := f.budget.acquire(ctx, size)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("transportquic: %d-byte frame: %w", size, err)
		}
		f.held = size
	}
	payload, err := f.fr.ReadFrame()
	if err == nil {
		// ReadFrame returns a prefix of its buffer.
		f.bufCap = cap(payload)
	}
	return payload, err
}

// settle returns what the stream holds beyond the buffer it keeps for the
// next frame; a buffer larger than maxRetainedFrameBuffer is dropped.
func (f *frameSource) settle() {
	keep := int64(f.bufCap)
	if keep > maxRetainedFrameBuffer {
		f.fr = codec.NewFrameReader(f.r, f.t.cfg.MaxFrameSize)
		f.bufCap, keep = 0, 0
	}
	if keep < f.held {
		f.budget.release(f.held - keep)
		f.held = keep
	}
}

func (f *frameSource) close() {
	f.budget.release(f.held)
	f.held = 0
}

// deadlineReader sets the stream's read deadline before reads while armed,
// so the deadline bounds the wait for progress, not the whole stream. It
// moves the deadline only once a quarter of the timeout has passed, so a
// busy stream does not pay for a deadline update on every read.
type deadlineReader struct {
	s        *quic.Stream
	timeout  time.Duration
	armed    bool
	deadline time.Time // set on s; zero when none is
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	switch {
	case d.armed:
		if now := time.Now(); d.deadline.IsZero() || d.deadline.Sub(now) < d.timeout*3/4 {
			d.deadline = now.Add(d.timeout)
			_ = d.s.SetReadDeadline(d.deadline)
		}
	case !d.deadline.IsZero():
		d.deadline = time.Time{}
		_ = d.s.SetReadDeadline(d.deadline)
	}
	return d.s.Read(p)
}
