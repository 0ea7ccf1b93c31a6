package codec

import "errors"

// Sentinel errors. Functions wrap them with %w and add detail, so match them
// with errors.Is.
var (
	// ErrFrameTooLarge is returned for a frame whose payload exceeds the
	// reader's maximum frame size, or the 4 GiB limit of the length field.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrChecksum is returned when a frame's payload does not match its
	// CRC-32C.
	ErrChecksum = errors.New("codec: frame checksum mismatch")
	// ErrMalformed is returned by a Decode method for bytes its Encode could not
	// have produced.
	ErrMalformed = errors.New("codec: malformed data")
	// ErrDecodedTooLarge is returned when decompressed data would exceed the
	// configured maximum decoded size.
	ErrDecodedTooLarge = errors.New("codec: decoded data too large")
	// ErrInvalidConfig is returned for a configuration Validate rejects.
	ErrInvalidConfig = errors.New("codec: invalid configuration")
	// ErrClosed is returned by a stream writer or reader used after Close.
	ErrClosed = errors.New("codec: stream closed")
)
