package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// MaxStreamWindow is the largest zstd window a stream reader accepts, which
// bounds its memory whatever the stream claims. Streams written by
// NewZstdWriter use an 8 MiB window.
const MaxStreamWindow = 64 << 20

// Stream encoders and decoders keep large buffers and tables, so closed ones
// are pooled and reset onto the next stream instead of being rebuilt. All of
// them run synchronously (concurrency 1): no goroutine outlives a Write, Read
// or Close.
var (
	zstdWriters sync.Pool // *zstd.Encoder
	zstdReaders sync.Pool // *zstd.Decoder
	s2Writers   sync.Pool // *s2.Writer
	s2Readers   sync.Pool // *s2.Reader
)

// NewZstdWriter returns a writer that compresses to w in the zstd frame
// format, at zstd's fastest level: snapshots (what it is for) are large and
// written while a node serves, so speed beats ratio (backup/README.md has
// what it changed for backups and restores). Close flushes the stream's end;
// it does not close w. Snapshots stored through it are read back with NewZstdReader.
func NewZstdWriter(w io.Writer) (io.WriteCloser, error) {
	enc, _ := zstdWriters.Get().(*zstd.Encoder)
	if enc == nil {
		var err error
		// Zero frames: an empty stream still writes a frame, so that a reader
		// can tell it from a file cut to nothing.
		enc, err = zstd.NewWriter(w,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(8<<20),
			zstd.WithZeroFrames(true))
		if err != nil {
			return nil, fmt.Errorf("codec: zstd writer: %w", err)
		}
	} else {
		enc.Reset(w)
	}
	return &zstdWriter{enc: enc}, nil
}

type zstdWriter struct {
	enc *zstd.Encoder
}

func (z *zstdWriter) Write(p []byte) (int, error) {
	if z.enc == nil {
		return 0, ErrClosed
	}
	return z.enc.Write(p)
}

// Close writes the end of the stream. The encoder goes back to the pool only
// after a clean close: one that failed may hold a broken state.
func (z *zstdWriter) Close() error {
	if z.enc == nil {
		return ErrClosed
	}
	enc := z.enc
	z.enc = nil
	if err := enc.Close(); err != nil {
		return err
	}
	enc.Reset(nil)
	zstdWriters.Put(enc)
	return nil
}

// NewZstdReader returns a reader that decompresses the zstd stream read from
// r. Read returns an error wrapping ErrMalformed for corrupt data (zstd
// checksums every frame) or a window larger than MaxStreamWindow, one
// wrapping io.ErrUnexpectedEOF when r ends inside the stream or holds nothing
// at all, and r's own errors unchanged. Close releases the decoder; it does
// not close r.
func NewZstdReader(r io.Reader) (io.ReadCloser, error) {
	dec, _ := zstdReaders.Get().(*zstd.Decoder)
	if dec == nil {
		var err error
		dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(MaxStreamWindow))
		if err != nil {
			return nil, fmt.Errorf("codec: zstd reader: %w", err)
		}
	}
	src := &sourceReader{r: r}
	if err := dec.Reset(src); err != nil {
		zstdReaders.Put(dec)
		return nil, fmt.Errorf("codec: zstd reader: %w", err)
	}
	return &zstdReader{dec: dec, src: src}, nil
}

type zstdReader struct {
	dec *zstd.Decoder
	src *sourceReader
}

func (z *zstdReader) Read(p []byte) (int, error) {
	if z.dec == nil {
		return 0, ErrClosed
	}
	n, err := z.dec.Read(p)
	if err == io.EOF && z.src.read == 0 {
		return n, fmt.Errorf("codec: zstd stream is empty: %w", io.ErrUnexpectedEOF)
	}
	return n, z.src.streamError("zstd", err)
}

func (z *zstdReader) Close() error {
	if z.dec == nil {
		return ErrClosed
	}
	dec := z.dec
	z.dec = nil
	_ = dec.Reset(nil) // drops the reference to the source; cannot fail for nil
	zstdReaders.Put(dec)
	return nil
}

// s2TrailerID is the skippable chunk that ends every stream NewS2Writer
// writes. The s2 format has no end marker of its own, so without it a stream
// cut at a chunk boundary would read as complete. The chunk holds the stream's
// uncompressed length as 8 big-endian bytes.
const s2TrailerID = 0x8a

// NewS2Writer returns a writer that compresses to w in the s2 stream format,
// ended by a trailer recording its length. It compresses faster than zstd
// for a lower ratio (see BenchmarkCompression4MiB). Close flushes the stream's end; it does not close w.
func NewS2Writer(w io.Writer) (io.WriteCloser, error) {
	enc, _ := s2Writers.Get().(*s2.Writer)
	if enc == nil {
		enc = s2.NewWriter(w, s2.WriterConcurrency(1))
	} else {
		enc.Reset(w)
	}
	return &s2Writer{enc: enc}, nil
}

type s2Writer struct {
	enc     *s2.Writer
	written uint64
}

func (s *s2Writer) Write(p []byte) (int, error) {
	if s.enc == nil {
		return 0, ErrClosed
	}
	n, err := s.enc.Write(p)
	s.written += uint64(n)
	return n, err
}

func (s *s2Writer) Close() error {
	if s.enc == nil {
		return ErrClosed
	}
	enc := s.enc
	s.enc = nil
	// The trailer bypasses the encoder's buffer, so what is buffered goes first.
	if err := enc.Flush(); err != nil {
		return err
	}
	if err := enc.AddSkippableBlock(s2TrailerID, binary.BigEndian.AppendUint64(nil, s.written)); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	enc.Reset(nil)
	s2Writers.Put(enc)
	return nil
}

// NewS2Reader returns a reader that decompresses the s2 stream NewS2Writer
// wrote to r. Its memory is bounded by s2's 4 MiB maximum block size. It
// returns an error wrapping ErrMalformed for corrupt data and
// io.ErrUnexpectedEOF when r ends before the stream's trailer. Close releases
// the decoder; it does not close r.
func NewS2Reader(r io.Reader) (io.ReadCloser, error) {
	src := &sourceReader{r: r}
	dec, _ := s2Readers.Get().(*s2.Reader)
	if dec == nil {
		dec = s2.NewReader(src)
	} else {
		dec.Reset(src)
	}
	sr := &s2Reader{dec: dec, src: src}
	if err := dec.SkippableCB(s2TrailerID, sr.readTrailer); err != nil {
		return nil, fmt.Errorf("codec: s2 reader: %w", err)
	}
	return sr, nil
}

type s2Reader struct {
	dec         *s2.Reader
	src         *sourceReader
	read        uint64
	trailerSeen bool
	trailerLen  uint64
}

func (s *s2Reader) readTrailer(r io.Reader) error {
	var length [8]byte
	_, err := io.ReadFull(r, length[:])
	switch {
	case err != nil && s.src.eof:
		return fmt.Errorf("codec: s2 stream trailer truncated: %w", io.ErrUnexpectedEOF)
	case err != nil || s.trailerSeen:
		return fmt.Errorf("%w: s2: bad stream trailer", ErrMalformed)
	}
	s.trailerSeen = true
	s.trailerLen = binary.BigEndian.Uint64(length[:])
	return nil
}

func (s *s2Reader) Read(p []byte) (int, error) {
	if s.dec == nil {
		return 0, ErrClosed
	}
	n, err := s.dec.Read(p)
	s.read += uint64(n)
	if err == io.EOF {
		switch {
		case !s.trailerSeen:
			return n, fmt.Errorf("codec: s2 stream ends without its trailer: %w", io.ErrUnexpectedEOF)
		case s.read != s.trailerLen:
			return n, fmt.Errorf("%w: s2 stream holds %d bytes, its trailer says %d", ErrMalformed, s.read, s.trailerLen)
		}
	}
	return n, s.src.streamError("s2", err)
}

func (s *s2Reader) Close() error {
	if s.dec == nil {
		return ErrClosed
	}
	dec := s.dec
	s.dec = nil
	_ = dec.SkippableCB(s2TrailerID, nil) // releases this reader; the id is valid
	dec.Reset(nil)
	s2Readers.Put(dec)
	return nil
}

// sourceReader remembers the error of the reader a decompressor reads from,
// so that a failing source is reported as itself and not as corrupt data.
type sourceReader struct {
	r    io.Reader
	read int64
	err  error
	eof  bool
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.err = err
	}
	return n, err
}

// streamError maps a decompressor's error onto this package's: io.EOF and
// errors already in this package's terms pass unchanged, the source's own
// errors are returned as they are, a failure once the source has ended means
// the stream was truncated (s2 reports that as corruption), and anything else
// the decompressor raised means corrupt input.
func (s *sourceReader) streamError(format string, err error) error {
	switch {
	case err == nil, err == io.EOF, errors.Is(err, ErrMalformed):
		return err
	case s.err != nil:
		return s.err
	case s.eof || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("codec: %s stream truncated: %w", format, io.ErrUnexpectedEOF)
	default:
		return fmt.Errorf("%w: %s: %w", ErrMalformed, format, err)
	}
}
