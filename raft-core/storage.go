package raftcore

import (
	"io"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// LogStore is the durable raft log: entries, HardState and the metadata of the
// latest snapshot. It extends etcd raft's read-side raft.Storage, whose
// contract (ErrCompacted, ErrUnavailable, ErrSnapOutOfDate, the dummy entry at
// FirstIndex-1) it keeps. Implementations pass raftcore/storetest.
//
// Snapshot() returns metadata only (Data is empty): the state itself lives in
// a SnapshotStore, keyed by the snapshot's index.
//
// All methods are safe for concurrent use: the engine reads from its raft
// goroutine while its log writer saves.
type LogStore interface {
	raft.Storage

	// Save persists, atomically and durably before it returns:
	//   1. snap, when not empty: a snapshot received from the leader. Every entry
	//      at or below snap's index is discarded, the log restarts after it, and
	//      Snapshot() returns its metadata;
	//   2. entries, when not empty: appended after discarding any existing entry
	//      whose index is >= entries[0].Index (a conflicting suffix). entries
	//      must be contiguous and entries[0].Index at most LastIndex+1 (a gap
	//      is an error). Entries below FirstIndex are already compacted, hence
	//      committed and identical, and are skipped;
	//   3. hs, when not empty (raft.IsEmptyHardState), as the new HardState.
	// Either all of it is durable or none of it is visible after a crash.
	// The engine does not call Save for a HardState that only moves the
	// commit index (raft does not need it durable); it passes it with the
	// next Save, or at Close. After a crash the stored commit index may
	// therefore lag what was applied: raft learns it again from the leader.
	Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error
	// SetSnapshot records the metadata of a snapshot this node created itself,
	// after its data was committed to the SnapshotStore. The log is not
	// truncated. It returns raft.ErrSnapOutOfDate for a snapshot older than the
	// current one and raft.ErrUnavailable for an index beyond LastIndex.
	SetSnapshot(meta *raftpb.SnapshotMetadata) error
	// Compact discards entries up to and including index, keeping its term for
	// Term(index). It returns raft.ErrCompacted if index is already compacted
	// and an error if index is beyond the latest snapshot: entries no snapshot
	// covers are never discarded.
	Compact(index uint64) error
	// Close releases the store. Further calls return ErrClosed.
	Close() error
}

// SnapshotMeta describes one stored snapshot.
type SnapshotMeta struct {
	// Index and Term of the last entry the snapshot's state includes.
	Index uint64
	Term  uint64
	// ConfState is the membership at Index.
	ConfState *raftpb.ConfState
	// Size is the number of data bytes; set by the store on Commit.
	Size int64
}

// SnapshotStore keeps snapshot data, streamed in and out so that neither side
// needs the whole snapshot in memory. Implementations pass raftcore/storetest.
type SnapshotStore interface {
	// Create starts writing a snapshot described by meta. Nothing is visible
	// until the sink's Commit returns nil.
	Create(meta SnapshotMeta) (SnapshotSink, error)
	// Open returns the snapshot at index and a reader of its data. The caller
	// closes the reader. It returns ErrSnapshotNotFound for an unknown index and
	// an error wrapping ErrCorrupt if the data fails its checksum (reported at
	// the latest when the reader reaches EOF).
	Open(index uint64) (SnapshotMeta, io.ReadCloser, error)
	// List returns the committed snapshots, newest first.
	List() ([]SnapshotMeta, error)
	// Prune deletes all but the newest keep snapshots (keep >= 1).
	Prune(keep int) error
}

// SnapshotDeleter is implemented by snapshot stores that can delete one
// snapshot. The engine uses it to remove snapshots it received but raft did
// not install, which Prune would otherwise count as the newest. Both stores
// of this project implement it.
type SnapshotDeleter interface {
	// Delete removes the snapshot at index; deleting an unknown index is not
	// an error.
	Delete(index uint64) error
}

// SnapshotSink receives the data of a snapshot being created.
type SnapshotSink interface {
	io.Writer
	// Commit makes the snapshot durable and visible, atomically. A snapshot
	// at the same index is replaced.
	Commit() error
	// Abort discards what was written. Calling it after Commit does nothing.
	Abort() error
}
