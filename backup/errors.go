package backup

import "errors"

var (
	// ErrNotFound: no backup (or object) of that name in the target.
	ErrNotFound = errors.New("backup: not found")
	// ErrCorrupt: a backup's bytes do not match its manifest (a checksum
	// or size differs, the body is truncated or does not decompress).
	ErrCorrupt = errors.New("backup: corrupt")
	// ErrForeign: the object is not a backup this package wrote, or one of
	// a format version it does not know.
	ErrForeign = errors.New("backup: not a jangada backup")
	// ErrStateMachineMismatch: the backup holds another application's
	// state machine than the one it is restored into.
	ErrStateMachineMismatch = errors.New("backup: state machine mismatch")
	// ErrInvalid: bad arguments or configuration.
	ErrInvalid = errors.New("backup: invalid argument")
	// ErrExists: a backup of that name already exists.
	ErrExists = errors.New("backup: already exists")
)
