package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Frame layout: 4-byte big-endian payload length | 4-byte big-endian CRC-32C
// (Castagnoli) of the payload | payload.
const FrameHeaderSize = 8

// DefaultMaxFrameSize is the largest payload a FrameReader accepts when it is
// created with a maxFrameSize of zero or less.
const DefaultMaxFrameSize = 16 << 20

// maxFramePayload is the largest payload the 4-byte length field can describe.
const maxFramePayload = math.MaxUint32

// writeCopyLimit is the payload size up to which FrameWriter copies header and
// payload into one buffer to issue a single Write. Larger payloads are written
// as two Writes so that the writer never holds a copy of a big payload.
const writeCopyLimit = 64 << 10

// readGrowStep is the first allocation for a frame larger than the reader's
// buffer. The buffer then doubles as bytes arrive, so a peer that announces a
// large frame and sends nothing costs little memory.
const readGrowStep = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFrame appends payload to dst as one frame and returns the extended
// slice. Appending several frames to one buffer and writing it once batches
// them into a single Write.
//
// It panics if payload is longer than 4 GiB - 1 bytes, which the length field
// cannot describe; FrameWriter.WriteFrame returns ErrFrameTooLarge instead.
func AppendFrame(dst, payload []byte) []byte {
	if uint64(len(payload)) > maxFramePayload {
		panic("codec: AppendFrame payload exceeds 4 GiB")
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// FrameWriter writes checksummed, length-prefixed frames to an io.Writer.
// It is not safe for concurrent use.
type FrameWriter struct {
	w   io.Writer
	buf []byte
}

// NewFrameWriter returns a FrameWriter that writes to w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{w: w}
}

// WriteFrame writes payload as one frame. Payloads up to 64 KiB go out in a
// single Write; larger ones as a header Write followed by a payload Write. It
// returns ErrFrameTooLarge for a payload the length field cannot describe,
// and otherwise any error of the underlying writer.
func (fw *FrameWriter) WriteFrame(payload []byte) error {
	if uint64(len(payload)) > maxFramePayload {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	if len(payload) <= writeCopyLimit {
		fw.buf = AppendFrame(fw.buf[:0], payload)
		_, err := fw.w.Write(fw.buf)
		return err
	}
	var header [FrameHeaderSize]byte
	putHeader(header[:], payload)
	if _, err := fw.w.Write(header[:]); err != nil {
		return err
	}
	_, err := fw.w.Write(payload)
	return err
}

func putHeader(header, payload []byte) {
	binary.BigEndian.PutUint32(header[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(header[4:8], crc32.Checksum(payload, castagnoli))
}

// FrameReader reads frames written by FrameWriter or AppendFrame. It reads
// exactly the bytes of each frame and no more, so the underlying reader can be
// handed on after a frame; wrap r in a bufio.Reader when reading many small
// frames from a stream where each Read is costly. It is not safe for
// concurrent use.
type FrameReader struct {
	r       io.Reader
	max     int
	header  [FrameHeaderSize]byte
	payload []byte
}

// NewFrameReader returns a FrameReader that reads from r and rejects payloads
// larger than maxFrameSize bytes. A maxFrameSize of zero or less means
// DefaultMaxFrameSize (16 MiB).
func NewFrameReader(r io.Reader, maxFrameSize int) *FrameReader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if uint64(maxFrameSize) > maxFramePayload {
		maxFrameSize = maxFramePayload
	}
	return &FrameReader{r: r, max: maxFrameSize}
}

// ReadFrame reads the next frame and returns its payload. The slice is only
// valid until the next call to ReadFrame, which reuses its memory.
//
// It returns io.EOF when the stream ends cleanly between frames, an error
// wrapping io.ErrUnexpectedEOF when it ends inside a frame, ErrFrameTooLarge
// when the announced length exceeds the maximum (checked before any payload
// memory is allocated), ErrChecksum when the payload is corrupt, and otherwise
// the underlying reader's error. After an error the stream's position is
// unspecified and the stream should be abandoned.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	if n, err := io.ReadFull(fr.r, fr.header[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("codec: frame header truncated after %d bytes: %w", n, err)
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(fr.header[0:4])
	sum := binary.BigEndian.Uint32(fr.header[4:8])
	if uint64(size) > uint64(fr.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, fr.max)
	}
	payload, err := fr.readPayload(int(size))
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, fmt.Errorf("%w: %d-byte payload", ErrChecksum, size)
	}
	return payload, nil
}

// readPayload reads size bytes into fr.payload. When the buffer is too small
// it grows as data arrives instead of allocating size bytes up front.
func (fr *FrameReader) readPayload(size int) ([]byte, error) {
	if size <= cap(fr.payload) {
		fr.payload = fr.payload[:size]
		if n, err := io.ReadFull(fr.r, fr.payload); err != nil {
			return nil, truncated(n, size, err)
		}
		return fr.payload, nil
	}
	buf := fr.payload[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := min(size, max(2*cap(buf), readGrowStep))
			next := make([]byte, len(buf), grown)
			copy(next, buf)
			buf = next
		}
		n, err := io.ReadFull(fr.r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			fr.payload = buf[:0]
			return nil, truncated(len(buf), size, err)
		}
	}
	fr.payload = buf
	return buf, nil
}

func truncated(got, want int, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("codec: frame payload truncated at %d of %d bytes: %w", got, want, io.ErrUnexpectedEOF)
	}
	return err
}
