package storewal

import (
	"errors"

	"github.com/jangada-io/jangada/raft-core/logkv"
)

// Sentinel errors. Match them with errors.Is; they are wrapped with %w when
// context is added. Corruption is reported with raftcore.ErrCorrupt, a closed
// store with raftcore.ErrClosed and a bad Config with
// raftcore.ErrInvalidConfig.
var (
	// ErrLocked is returned by Open when another LogStore, in this process or
	// another, holds the data directory.
	ErrLocked = errors.New("storewal: data directory is in use")
	// ErrIncompatibleFormat is returned by Open for a directory that holds
	// data of another format or format version, or other files.
	ErrIncompatibleFormat = errors.New("storewal: incompatible data directory")
	// ErrInvalidSave is returned by Save for entries that are not contiguous
	// or that would leave a gap after the last index. It is
	// logkv.ErrInvalidSave, shared by the stores built on logkv.
	ErrInvalidSave = logkv.ErrInvalidSave
	// ErrCompactBeyondSnapshot is returned by Compact for an index that the
	// latest snapshot does not cover. It is logkv.ErrCompactBeyondSnapshot.
	ErrCompactBeyondSnapshot = logkv.ErrCompactBeyondSnapshot
	// ErrStoreFailed is returned once a write or an fdatasync failed: what
	// reached the disk is then unknown, so the store refuses every later
	// call. Close it and open it again; what Save acknowledged is on disk.
	ErrStoreFailed = errors.New("storewal: store failed")
)
