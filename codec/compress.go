package codec

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Algorithm names a compression format. Its value is the tag byte Compressed
// writes before a compressed payload, so the values are part of the stored
// format and never change.
type Algorithm uint8

const (
	// Zstd is Zstandard: the better ratio, for log entries and snapshots that
	// are written once and replicated or stored many times.
	Zstd Algorithm = 1
	// S2 is a faster, Snappy-derived format with a lower ratio, for payloads
	// where CPU time matters more than bytes.
	S2 Algorithm = 2
)

// tagStored marks a payload Compressed kept uncompressed.
const tagStored = 0

// String returns the algorithm's name.
func (a Algorithm) String() string {
	switch a {
	case Zstd:
		return "zstd"
	case S2:
		return "s2"
	default:
		return fmt.Sprintf("Algorithm(%d)", uint8(a))
	}
}

// Level trades compression speed for ratio.
type Level int

const (
	// LevelDefault is zstd's default level and s2's standard encoder.
	LevelDefault Level = iota
	// LevelFastest is zstd's fastest level; for s2 it is LevelDefault.
	LevelFastest
	// LevelBetter is zstd's "better compression" level and s2's better
	// encoder: slower than LevelDefault, usually for a better ratio.
	LevelBetter
	// LevelBest is the best ratio either format offers, at a large cost in
	// speed.
	LevelBest
)

// Defaults for CompressionConfig's zero values.
const (
	DefaultMinSize        = 512
	DefaultMaxDecodedSize = 64 << 20
)

// CompressionConfig configures a Compressed codec.
type CompressionConfig struct {
	// Algorithm compresses new payloads. Zero means Zstd. Decode accepts
	// either algorithm whatever this says, so it can change over a log's life.
	Algorithm Algorithm
	// Level is the compression level. Zero means LevelDefault.
	Level Level
	// MinSize is the smallest encoded command that is compressed; shorter ones
	// are stored as they are, behind the one-byte tag. Zero means
	// DefaultMinSize (512 bytes).
	MinSize int
	// MaxDecodedSize bounds the size of a decoded payload, so that a small
	// malicious input cannot expand to exhaust memory. Encode rejects commands
	// larger than this, so that every entry it writes can be decoded. Zero
	// means DefaultMaxDecodedSize (64 MiB). Each distinct value keeps a zstd
	// decoder for the life of the program, shared by every codec using it.
	MaxDecodedSize int
}

// Validate reports whether c holds usable values. Its errors wrap
// ErrInvalidConfig.
func (c CompressionConfig) Validate() error {
	var errs []error
	if c.Algorithm != 0 && c.Algorithm != Zstd && c.Algorithm != S2 {
		errs = append(errs, fmt.Errorf("%w: CompressionConfig.Algorithm %d is unknown; use codec.Zstd or codec.S2", ErrInvalidConfig, uint8(c.Algorithm)))
	}
	if c.Level < LevelDefault || c.Level > LevelBest {
		errs = append(errs, fmt.Errorf("%w: CompressionConfig.Level %d is unknown; use one of the codec.Level constants", ErrInvalidConfig, c.Level))
	}
	if c.MinSize < 0 {
		errs = append(errs, fmt.Errorf("%w: CompressionConfig.MinSize %d is negative; use 0 for the default of %d", ErrInvalidConfig, c.MinSize, DefaultMinSize))
	}
	if c.MaxDecodedSize < 0 {
		errs = append(errs, fmt.Errorf("%w: CompressionConfig.MaxDecodedSize %d is negative; use 0 for the default of %d", ErrInvalidConfig, c.MaxDecodedSize, DefaultMaxDecodedSize))
	}
	return errors.Join(errs...)
}

func (c CompressionConfig) withDefaults() CompressionConfig {
	if c.Algorithm == 0 {
		c.Algorithm = Zstd
	}
	if c.MinSize == 0 {
		c.MinSize = DefaultMinSize
	}
	if c.MaxDecodedSize == 0 {
		c.MaxDecodedSize = DefaultMaxDecodedSize
	}
	return c
}

// Compressed wraps a codec and compresses the commands it encodes. Each
// encoding starts with a one-byte tag: 0 for a command stored as the inner
// codec wrote it (shorter than MinSize, or not made smaller by compression),
// otherwise the Algorithm that compressed it. It is safe for concurrent use.
//
// Wrapping Bytes gives plain byte compression:
//
//	c, err := codec.NewCompressed[[]byte](codec.Bytes{}, codec.CompressionConfig{})
type Compressed[C any] struct {
	inner   Codec[C]
	cfg     CompressionConfig
	zstdEnc *zstd.Encoder
	zstdDec *zstd.Decoder
}

// NewCompressed returns a codec that compresses what inner encodes. It
// returns an error wrapping ErrInvalidConfig for a nil inner codec or an
// invalid configuration.
func NewCompressed[C any](inner Codec[C], cfg CompressionConfig) (*Compressed[C], error) {
	if inner == nil {
		return nil, fmt.Errorf("%w: NewCompressed needs an inner codec", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Compressed[C]{inner: inner, cfg: cfg}
	var err error
	if cfg.Algorithm == Zstd {
		if c.zstdEnc, err = sharedZstdEncoder(cfg.Level); err != nil {
			return nil, err
		}
	}
	if c.zstdDec, err = sharedZstdDecoder(cfg.MaxDecodedSize); err != nil {
		return nil, err
	}
	return c, nil
}

// Encode encodes cmd with the inner codec and compresses the result when it
// is at least MinSize bytes long. It returns an error wrapping
// ErrDecodedTooLarge when the inner encoding exceeds MaxDecodedSize.
func (c *Compressed[C]) Encode(cmd C) ([]byte, error) {
	raw, err := c.inner.Encode(cmd)
	if err != nil {
		return nil, err
	}
	return c.compress(raw)
}

func (c *Compressed[C]) compress(raw []byte) ([]byte, error) {
	if len(raw) > c.cfg.MaxDecodedSize {
		return nil, fmt.Errorf("%w: encoded command of %d bytes exceeds MaxDecodedSize %d", ErrDecodedTooLarge, len(raw), c.cfg.MaxDecodedSize)
	}
	if len(raw) >= c.cfg.MinSize {
		var out []byte
		switch c.cfg.Algorithm {
		case Zstd:
			out = c.zstdEnc.EncodeAll(raw, []byte{byte(Zstd)})
		case S2:
			out = make([]byte, 1+s2.MaxEncodedLen(len(raw)))
			out[0] = byte(S2)
			out = out[:1+len(s2Encoder(c.cfg.Level)(out[1:], raw))]
		}
		if len(out) < 1+len(raw) {
			return trimmed(out), nil
		}
	}
	out := make([]byte, 1+len(raw))
	out[0] = tagStored
	copy(out[1:], raw)
	return out, nil
}

// trimmed returns b, or a copy of it without the spare capacity compressors
// leave behind (sized for the input, not the output) when that would waste
// more than a quarter of it: encoded entries can stay in memory for long.
func trimmed(b []byte) []byte {
	if cap(b)-len(b) <= len(b)/4 {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Decode decompresses data as its tag says and decodes the result with the
// inner codec. It returns an error wrapping ErrMalformed for an unknown tag or
// corrupt compressed data, ErrDecodedTooLarge when the payload would
// decompress to more than MaxDecodedSize, and otherwise the inner codec's
// error.
func (c *Compressed[C]) Decode(data []byte) (C, error) {
	raw, err := c.decompress(data)
	if err != nil {
		var zero C
		return zero, err
	}
	return c.inner.Decode(raw)
}

func (c *Compressed[C]) decompress(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: compressed payload is empty", ErrMalformed)
	}
	body := data[1:]
	switch Algorithm(data[0]) {
	case tagStored:
		if len(body) > c.cfg.MaxDecodedSize {
			return nil, fmt.Errorf("%w: stored payload of %d bytes exceeds %d", ErrDecodedTooLarge, len(body), c.cfg.MaxDecodedSize)
		}
		return body, nil
	case Zstd:
		raw, err := c.zstdDec.DecodeAll(body, nil)
		tooLarge := errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded)
		if tooLarge || err == nil && len(raw) > c.cfg.MaxDecodedSize {
			return nil, fmt.Errorf("%w: zstd payload expands beyond %d bytes", ErrDecodedTooLarge, c.cfg.MaxDecodedSize)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %w", ErrMalformed, err)
		}
		return raw, nil
	case S2:
		size, err := s2.DecodedLen(body)
		if err != nil {
			return nil, fmt.Errorf("%w: s2: %w", ErrMalformed, err)
		}
		if size > c.cfg.MaxDecodedSize {
			return nil, fmt.Errorf("%w: s2 payload declares %d bytes, limit %d", ErrDecodedTooLarge, size, c.cfg.MaxDecodedSize)
		}
		raw, err := s2.Decode(make([]byte, size), body)
		if err != nil {
			return nil, fmt.Errorf("%w: s2: %w", ErrMalformed, err)
		}
		return raw, nil
	default:
		return nil, fmt.Errorf("%w: unknown compression tag %d", ErrMalformed, data[0])
	}
}

func s2Encoder(level Level) func(dst, src []byte) []byte {
	switch level {
	case LevelBetter:
		return s2.EncodeBetter
	case LevelBest:
		return s2.EncodeBest
	default:
		return s2.Encode
	}
}

func zstdLevel(level Level) zstd.EncoderLevel {
	switch level {
	case LevelFastest:
		return zstd.SpeedFastest
	case LevelBetter:
		return zstd.SpeedBetterCompression
	case LevelBest:
		return zstd.SpeedBestCompression
	default:
		return zstd.SpeedDefault
	}
}

// Creating a zstd encoder or decoder allocates large tables, so one of each
// kind is shared by every Compressed codec: EncodeAll and DecodeAll are safe
// for concurrent use and run up to GOMAXPROCS at a time. There is one encoder
// per Level and one decoder per distinct MaxDecodedSize, which a program
// configures a handful of at most.
var (
	zstdShared   sync.Mutex
	zstdEncoders = map[Level]*zstd.Encoder{}
	zstdDecoders = map[int]*zstd.Decoder{}
)

func sharedZstdEncoder(level Level) (*zstd.Encoder, error) {
	zstdShared.Lock()
	defer zstdShared.Unlock()
	if enc, ok := zstdEncoders[level]; ok {
		return enc, nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevel(level)))
	if err != nil {
		return nil, fmt.Errorf("codec: zstd encoder: %w", err)
	}
	zstdEncoders[level] = enc
	return enc, nil
}

// zstdMinDecoderLimit is the smallest limit a zstd decoder works with: it
// rejects every frame whose window, at least 1 KiB, exceeds its limit. Smaller
// MaxDecodedSize values are checked after decoding.
const zstdMinDecoderLimit = 1 << 10

func sharedZstdDecoder(maxDecodedSize int) (*zstd.Decoder, error) {
	maxDecodedSize = max(maxDecodedSize, zstdMinDecoderLimit)
	zstdShared.Lock()
	defer zstdShared.Unlock()
	if dec, ok := zstdDecoders[maxDecodedSize]; ok {
		return dec, nil
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(maxDecodedSize)))
	if err != nil {
		return nil, fmt.Errorf("codec: zstd decoder: %w", err)
	}
	zstdDecoders[maxDecodedSize] = dec
	return dec, nil
}
