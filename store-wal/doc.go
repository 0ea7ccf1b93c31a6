// Package storewal is a raftcore.LogStore written for the raft log alone: a
// write-ahead log of fixed-size, preallocated segment files that every Save
// appends one checksummed record to, followed by one fdatasync.
//
// Why a second durable log store: a raft log is written once at its tail and
// discarded from its head, which a key-value database pays for twice (its
// own write-ahead log, then its tables and compactions). Here an entry is
// written once. Segments are filled with zeros when created and reused once
// compaction empties them, so a Save overwrites blocks the filesystem has
// already allocated and its fdatasync does not have to journal the file's
// size or extents: on ext4 that halves the cost of a small synced write.
// When no emptied segment is left to reuse, a goroutine zero-fills a spare
// ahead of the rollover that will take it, so neither Open nor a Save waits
// for a segment to be filled (64 MiB by default).
//
// Layout of the data directory: the JANGADA_FORMAT marker, the
// JANGADA_LOCK file, segments named by their sequence number
// (0000000000000001.wal, …) and at most two spare segments kept for reuse
// (spare-….wal). A record is
//
//	crc32c uint32 | length uint32 | segment sequence uint64 | payload | padding to 8 bytes
//
// where the checksum covers length, sequence and payload. The payload of a
// Save is the log's state record (raft-core/logkv) followed by the records of
// its entries; a full segment ends with a seal record. Opening the store
// replays every segment in order: a record that fails its checks at the tail
// of the last segment is a Save that a crash interrupted (never
// acknowledged) and is ignored; a damaged record anywhere else is reported
// with an error wrapping raftcore.ErrCorrupt, as is an entry record that
// fails its own checksum when it is read.
//
// What a crash relies on: a record is fdatasynced before its Save returns;
// a seal is fdatasynced before the next segment gets a record; a segment's
// name (a spare renamed, or a new file) is made durable with a sync of the
// directory before a record is written into it; and a data directory that
// Open creates is synced into its parent. A test cuts the power at random
// moments on a simulated disk that keeps any subset of unsynced writes,
// tears them at sector granularity and keeps any prefix of unsynced
// directory changes, and checks that every image opens to an acknowledged
// state (crash_test.go).
//
// The entries' records stay in the segment files and are read with pread:
// the store keeps 16 bytes per entry of the log in memory (where each record
// is), and the engine's entry cache serves recent entries. Compact deletes
// or recycles every segment that holds no entry of the log any more.
//
// Use it like store-pebble:
//
//	logs, err := storewal.Open(storewal.Config{Dir: "/var/lib/app/raft-log"})
//	if err != nil {
//		return err
//	}
//	cfg := raftcore.Config{LogStore: logs, …}
//
// It runs on Linux and the other Unix systems (it locks its directory with
// flock).
package storewal
