package kvstore

import "errors"

// Sentinel errors of the key-value store. Match them with errors.Is; they are
// wrapped with %w when context is added.
var (
	// ErrInvalidKey is returned for an empty key, a key over the size limit,
	// or a key that is not valid UTF-8 or holds control characters.
	ErrInvalidKey = errors.New("kvstore: invalid key")
	// ErrMalformed is returned when a command or a snapshot does not decode.
	ErrMalformed = errors.New("kvstore: malformed data")
	// ErrInvalidConfig is wrapped by the Validate methods' errors.
	ErrInvalidConfig = errors.New("kvstore: invalid config")
	// ErrNotFound is returned by Client.Get for an absent key.
	ErrNotFound = errors.New("kvstore: key not found")
	// ErrVersionMismatch is returned by Client when a conditional write's
	// expected version did not match the key's version.
	ErrVersionMismatch = errors.New("kvstore: version mismatch")
)
