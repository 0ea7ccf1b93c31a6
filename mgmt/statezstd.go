package mgmt

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The compressed State call (StateCompressed) is the State call with the
// copy compressed by the server: its data frames carry, after the version
// and kind bytes, the number of state bytes compressed so far (8 bytes,
// big endian) and the next bytes of one zstd stream of the state; its end
// frame gives the compressed size (Size) and the state's size and SHA-256.
// A backup then stores the stream as it arrives: the network carries, and
// the client handles, a fraction of the state's bytes, and the server,
// which reads them anyway, compresses and hashes them.

const (
	opStateZstd = "state-zstd"

	kindZstdData byte = 5

	compressionZstd = "zstd"
)

// StateCompressed opens a copy of the state machine like State, compressed
// by the server: Read returns one zstd stream of the state's bytes, and
// StateDigest gives the state's size and SHA-256 once Read returned
// io.EOF. A server that does not compress copies (an older version) is
// asked for an uncompressed one instead: Compressed tells which it is.
//
// Errors: as State.
func (c *Client) StateCompressed(ctx context.Context) (*StateReader, error) {
	r, err := c.state(ctx, opStateZstd)
	if errors.Is(err, ErrInvalid) {
		// "unknown operation" from an older server, or a node that cannot
		// copy its state, which State reports again.
		return c.state(ctx, opState)
	}
	return r, err
}

// Compressed reports whether Read returns the state compressed with zstd
// (a copy from StateCompressed) rather than the state's bytes.
func (r *StateReader) Compressed() bool { return r.Info.Compression == compressionZstd }

// StateDigest describes the state a compressed copy holds: the state bytes
// the data read so far holds (as the server counted them when it sent
// them; for progress), and, once Read returned io.EOF, the state's size
// and SHA-256 as the server computed them. sha256 is nil before the end
// and for an uncompressed copy.
func (r *StateReader) StateDigest() (size int64, sha256 []byte) {
	return r.stateRead.Load(), r.stateSHA256
}

// endCompressed checks the end frame of a compressed copy.
func (r *StateReader) endCompressed(end response) error {
	sum, err := hex.DecodeString(end.StateSHA256)
	if err != nil || len(sum) != sha256.Size || end.StateSize < 0 {
		return fmt.Errorf("%w: compressed state copy ended with size %d and checksum %q", ErrProtocol, end.StateSize, end.StateSHA256)
	}
	r.stateRead.Store(end.StateSize)
	r.stateSHA256 = sum
	return io.EOF
}

// streamCompressedState sends sc zstd-compressed as data frames, then
// returns the end frame (or the error that ended the copy).
func streamCompressedState(st raftcore.Stream, sc raftcore.StateCopy) response {
	state := &countingSHA256{h: sha256.New()}
	fw := &zstdFrameWriter{st: st, state: state, buf: make([]byte, 2+8, 2+8+stateChunkSize)}
	// One core is left to the snapshot being written as the copy streams
	// (raftcore.Node.OpenState): applies pause while it is written.
	enc, err := zstd.NewWriter(fw, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(max(1, min(runtime.GOMAXPROCS(0)-1, 4))))
	if err != nil {
		return errorResponse(err)
	}
	_, err = io.Copy(enc, io.TeeReader(sc, state))
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fw.flush()
	}
	switch {
	case fw.err != nil:
		return response{Error: &wireError{Code: CodeUnavailable, Message: fw.err.Error()}}
	case err != nil:
		return errorResponse(fmt.Errorf("read state copy at index %d: %w", sc.Meta.Index, err))
	}
	return response{Size: fw.sent, StateSize: state.n.Load(), StateSHA256: hex.EncodeToString(state.h.Sum(nil))}
}

// countingSHA256 hashes and counts the state's bytes; n is read by the
// encoder's goroutine.
type countingSHA256 struct {
	h hash.Hash
	n atomic.Int64
}

func (c *countingSHA256) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// zstdFrameWriter cuts the encoder's output into data frames of up to
// stateChunkSize compressed bytes.
type zstdFrameWriter struct {
	st    raftcore.Stream
	state *countingSHA256
	buf   []byte // version, kind, state offset, compressed bytes
	frame []byte
	sent  int64
	err   error // the stream's write error
}

func (w *zstdFrameWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *zstdFrameWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	n := len(w.buf) - (2 + 8)
	if n == 0 {
		return nil
	}
	w.buf[0], w.buf[1] = wireVersion, kindZstdData
	binary.BigEndian.PutUint64(w.buf[2:], uint64(w.state.n.Load()))
	w.frame = codec.AppendFrame(w.frame[:0], w.buf)
	if _, err := w.st.Write(w.frame); err != nil {
		w.err = err
		return err
	}
	w.sent += int64(n)
	w.buf = w.buf[:2+8]
	return nil
}
