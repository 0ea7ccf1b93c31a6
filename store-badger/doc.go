// Package storebadger keeps a jangada node's raft log and snapshots on disk:
// a raftcore.LogStore on badger (github.com/dgraph-io/badger/v4) and a
// raftcore.SnapshotStore of compressed, checksummed files.
//
// Every LogStore.Save is one badger transaction committed with SyncWrites,
// durable before Save returns: entries (replacing any conflicting suffix),
// the hard state and the snapshot metadata become visible together or not at
// all. Each record carries a CRC-32C; damage is reported as
// raftcore.ErrCorrupt and never handed to raft. A data directory is locked
// by the store that opened it and marked with its format, so a second store
// or an incompatible version is refused with ErrLocked or
// ErrIncompatibleFormat.
//
//	logs, err := storebadger.Open(storebadger.Config{Dir: "data/log"})
//	if err != nil {
//		return err
//	}
//	defer logs.Close()
//	snaps, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: "data/snapshots"})
//	if err != nil {
//		return err
//	}
//	// Hand logs and snaps to the raftcore engine's configuration.
//
// Both stores pass raftcore/storetest; the package's tests also kill a
// writer process with SIGKILL and check that nothing acknowledged is lost.
package storebadger
