package transportquic

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SendSnapshot streams body to msg.To on a stream of its own, in checksummed
// chunks under QUIC flow control, and waits for the receiver's verdict. It
// returns nil only if the receiver's Handler.HandleSnapshot accepted it; an
// error wrapping ErrSnapshotRejected if the receiver refused it, and
// ErrUnknownPeer, ErrPeerUnreachable, ctx's error or a stream error otherwise.
func (t *Transport) SendSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) (err error) {
	defer func() {
		if err != nil {
			t.stats.snapshotsFailed.Add(1)
		} else {
			t.stats.snapshotsSent.Add(1)
		}
	}()
	if msg.GetType() != raftpb.MessageType_MsgSnap {
		return fmt.Errorf("transportquic: SendSnapshot: message type %v, want MsgSnap", msg.GetType())
	}
	header, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("transportquic: SendSnapshot: encode: %w", err)
	}
	if len(header) > t.cfg.MaxFrameSize {
		return fmt.Errorf("transportquic: SendSnapshot: snapshot metadata of %d bytes exceeds MaxFrameSize", len(header))
	}
	t.mu.Lock()
	p := t.peers[msg.GetTo()]
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return raftcore.ErrClosed
	}
	if p == nil {
		return fmt.Errorf("%w: %d", ErrUnknownPeer, msg.GetTo())
	}
	// One snapshot at a time per peer: a second one would compete with the
	// first for the same connection window and help nobody.
	if !p.snapshotting.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: to %d", ErrSnapshotInProgress, p.id)
	}
	defer p.snapshotting.Store(false)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transportquic: snapshot to %d: %w", p.id, context.Cause(ctx))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel) // peer removed or transport closed
	defer stop()

	conn, err := p.connection(ctx)
	if err != nil {
		return err
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("%w: open snapshot stream: %w", ErrPeerUnreachable, err)
	}
	abort := context.AfterFunc(ctx, func() {
		stream.CancelWrite(codeCanceled)
		stream.CancelRead(codeCanceled)
	})
	defer abort()

	werr := t.writeSnapshot(stream, header, body)
	if werr != nil {
		stream.CancelWrite(codeCanceled)
		var serr *quic.StreamError
		if ctx.Err() != nil || !errors.As(werr, &serr) || !serr.Remote {
			stream.CancelRead(codeCanceled)
			return fmt.Errorf("transportquic: snapshot to %d: %w", p.id, errors.Join(werr, context.Cause(ctx)))
		}
		// The receiver stopped reading: its verdict says why.
	}
	resp, err := codec.NewFrameReader(stream, maxResponseSize).ReadFrame()
	stream.CancelRead(codeNormal)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("transportquic: snapshot to %d: %w", p.id, context.Cause(ctx))
	case err != nil:
		return fmt.Errorf("transportquic: snapshot to %d: no verdict: %w", p.id, errors.Join(werr, err))
	}
	verdict := decodeVerdict(resp)
	if werr != nil && !errors.Is(verdict, ErrSnapshotRejected) {
		return fmt.Errorf("transportquic: snapshot to %d: %w", p.id, werr)
	}
	return verdict
}

// decodeVerdict parses the receiver's answer to a snapshot: nil if it
// accepted, an error wrapping ErrSnapshotRejected with its reason if it
// refused, and one wrapping ErrProtocol for anything else.
func decodeVerdict(resp []byte) error {
	switch {
	case len(resp) >= 1 && resp[0] == snapshotRefused:
		return fmt.Errorf("%w: %q", ErrSnapshotRejected, resp[1:])
	case len(resp) == 1 && resp[0] == snapshotAccepted:
		return nil
	default:
		return fmt.Errorf("%w: malformed snapshot verdict", ErrProtocol)
	}
}

// decodeSnapshotHeader parses the first frame of a snapshot stream: a
// MsgSnap whose ConfState the snapshot store can read back. It returns an
// error wrapping ErrProtocol for anything else.
func decodeSnapshotHeader(header []byte) (*raftpb.Message, error) {
	msg := new(raftpb.Message)
	if err := proto.Unmarshal(header, msg); err != nil {
		return nil, fmt.Errorf("%w: bad snapshot header: %w", ErrProtocol, err)
	}
	if msg.GetType() != raftpb.MessageType_MsgSnap {
		return nil, fmt.Errorf("%w: snapshot header is a %v", ErrProtocol, msg.GetType())
	}
	if n := proto.Size(msg.GetSnapshot().GetMetadata().GetConfState()); n > maxSnapshotConfStateSize {
		return nil, fmt.Errorf("%w: snapshot ConfState of %d bytes", ErrProtocol, n)
	}
	return msg, nil
}

// writeSnapshot sends the header, the data chunks and the end frame, then
// closes the write side. Data is read from body straight into the frame
// buffer, behind its tag byte, so it is not copied again before QUIC takes it.
func (t *Transport) writeSnapshot(stream *quic.Stream, header []byte, body io.Reader) error {
	if _, err := stream.Write([]byte{streamSnapshot}); err != nil {
		return err
	}
	fw := codec.NewFrameWriter(stream)
	if err := fw.WriteFrame(header); err != nil {
		return err
	}
	chunk := make([]byte, 1+t.cfg.SnapshotChunkSize)
	chunk[0] = snapshotData
	var total uint64
	var sum uint32
	for {
		n, rerr := io.ReadFull(body, chunk[1:])
		if n > 0 {
			sum = crc32.Update(sum, castagnoli, chunk[1:1+n])
			total += uint64(n)
			if err := fw.WriteFrame(chunk[:1+n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("transportquic: reading snapshot body: %w", rerr)
		}
	}
	if err := fw.WriteFrame(appendSnapshotEnd(nil, total, sum)); err != nil {
		return err
	}
	return stream.Close()
}

// maxSnapshotConfStateSize is the largest encoded ConfState accepted in a
// snapshot header: the snapshot file store (store-snapfile) refuses to read
// back a header of more than 1 MiB (16 bytes of index and term plus the
// ConfState), so a larger one would be stored and then break its listing.
const maxSnapshotConfStateSize = 1<<20 - 16

// receiveSnapshot serves a snapshot stream: it checks the header, hands the
// data to the handler and sends back the verdict. Every read must make
// progress within ReadTimeout, and a body beyond MaxSnapshotSize is cut off
// before the handler sees the excess.
func (t *Transport) receiveSnapshot(conn *quic.Conn, remote remoteIdentity, stream *quic.Stream, src *frameSource) {
	header, err := src.next(false)
	if err != nil {
		t.streamFailed(stream, remote, err)
		return
	}
	msg, err := decodeSnapshotHeader(header)
	src.settle()
	if err != nil {
		t.protocolViolation(stream, remote, err)
		return
	}
	var verdict error
	switch h := t.currentHandler(); {
	case !t.beginInboundSnapshot(remote.ID):
		verdict = fmt.Errorf("%w: from %d", ErrSnapshotInProgress, remote.ID)
	case remote.ID == 0 || msg.GetFrom() != remote.ID:
		t.endInboundSnapshot(remote.ID)
		t.stats.spoofedDropped.Add(1)
		verdict = fmt.Errorf("sender %d is not authenticated as %d", remote.ID, msg.GetFrom())
	case msg.GetTo() != t.cfg.NodeID:
		t.endInboundSnapshot(remote.ID)
		t.stats.misaddressedDropped.Add(1)
		verdict = fmt.Errorf("snapshot for node %d received by %d", msg.GetTo(), t.cfg.NodeID)
	case h == nil:
		t.endInboundSnapshot(remote.ID)
		verdict = ErrNotStarted
	default:
		// The handler's context ends with the transport, the connection,
		// or the sender giving up (it stops reading our verdict).
		ctx, cancel := context.WithCancel(t.ctx)
		stopConn := context.AfterFunc(conn.Context(), cancel)
		stopStream := context.AfterFunc(stream.Context(), cancel)
		body := &snapshotReader{
			read: func() ([]byte, error) {
				src.settle()
				return src.next(false)
			},
			max: t.cfg.MaxSnapshotSize,
		}
		verdict = h.HandleSnapshot(ctx, msg, body)
		t.endInboundSnapshot(remote.ID)
		stopConn()
		stopStream()
		cancel()
		if verdict == nil && !body.done {
			verdict = errors.Join(errors.New("snapshot body not read to the end"), body.err)
		}
		switch {
		case body.err == nil:
		case isProtocolError(body.err):
			t.stats.malformedFrames.Add(1)
		case errors.Is(body.err, ErrSnapshotTooLarge), errors.Is(body.err, os.ErrDeadlineExceeded), errors.Is(body.err, errFrameBudget):
			t.stats.limitsHit.Add(1)
		}
	}
	resp := []byte{snapshotAccepted}
	if verdict != nil {
		reason := verdict.Error()
		if len(reason) > maxResponseSize-1 {
			reason = reason[:maxResponseSize-1]
		}
		resp = append([]byte{snapshotRefused}, reason...)
		t.log.Warn("snapshot refused", "peer", remote.ID, "error", verdict)
	} else {
		t.stats.snapshotsReceived.Add(1)
	}
	stream.CancelRead(codeNormal)
	if err := codec.NewFrameWriter(stream).WriteFrame(resp); err != nil {
		stream.CancelWrite(codeCanceled)
		return
	}
	_ = stream.Close()
}

// beginInboundSnapshot admits one inbound snapshot per remote at a time; a
// remote sending several at once would starve its own connection's flow
// control window.
func (t *Transport) beginInboundSnapshot(id uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, busy := t.inboundSnapshots[id]; busy {
		return false
	}
	t.inboundSnapshots[id] = struct{}{}
	return true
}

func (t *Transport) endInboundSnapshot(id uint64) {
	t.mu.Lock()
	delete(t.inboundSnapshots, id)
	t.mu.Unlock()
}

// snapshotReader yields the data of a snapshot stream and checks its end
// frame: Read returns io.EOF only after the total length and checksum
// matched, an error wrapping ErrProtocol or io.ErrUnexpectedEOF if the
// stream was cut or corrupted, and one wrapping ErrSnapshotTooLarge as soon
// as the data would exceed max.
type snapshotReader struct {
	read  func() ([]byte, error) // the next frame; its payload is valid until the next call
	max   int64
	cur   []byte
	total uint64
	sum   uint32
	done  bool
	err   error
}

func (s *snapshotReader) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// WriteTo lets io.Copy write chunks straight from the frame buffer.
func (s *snapshotReader) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for {
		if len(s.cur) == 0 {
			if err := s.next(); err != nil {
				if err == io.EOF {
					return written, nil
				}
				return written, err
			}
			continue
		}
		n, err := w.Write(s.cur)
		written += int64(n)
		s.cur = s.cur[n:]
		if err != nil {
			return written, err
		}
	}
}

// next reads the following frame; it returns io.EOF after a valid end frame.
func (s *snapshotReader) next() error {
	if s.done {
		return io.EOF
	}
	if s.err != nil {
		return s.err
	}
	payload, err := s.read()
	switch {
	case err == io.EOF:
		err = fmt.Errorf("transportquic: snapshot stream ended without end frame: %w", io.ErrUnexpectedEOF)
	case err != nil:
	case len(payload) == 0:
		err = fmt.Errorf("%w: empty snapshot frame", ErrProtocol)
	case payload[0] == snapshotData && s.total+uint64(len(payload)-1) > uint64(s.max):
		err = fmt.Errorf("%w: more than %d bytes", ErrSnapshotTooLarge, s.max)
	case payload[0] == snapshotData:
		s.cur = payload[1:]
		s.total += uint64(len(s.cur))
		s.sum = crc32.Update(s.sum, castagnoli, s.cur)
		return nil
	case payload[0] == snapshotEnd:
		total, sum, derr := decodeSnapshotEnd(payload[1:])
		switch {
		case derr != nil:
			err = derr
		case total != s.total || sum != s.sum:
			err = fmt.Errorf("%w: snapshot of %d bytes ended claiming %d bytes and a different checksum", ErrProtocol, s.total, total)
		default:
			s.done = true
			return io.EOF
		}
	default:
		err = fmt.Errorf("%w: unknown snapshot frame tag %#x", ErrProtocol, payload[0])
	}
	s.err = err
	return err
}
