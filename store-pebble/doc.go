// Package storepebble keeps a jangada node's raft log and snapshots on disk:
// a raftcore.LogStore on pebble (github.com/cockroachdb/pebble/v2) and a
// raftcore.SnapshotStore of compressed, checksummed files.
//
// Every LogStore.Save is one pebble batch, written to the WAL and synced
// before Save returns: entries (replacing any conflicting suffix), the hard
// state and the snapshot metadata become durable together or not at all.
// Each record carries a CRC-32C; damage is reported as raftcore.ErrCorrupt
// and never handed to raft. A data directory is locked by the store that
// opened it and marked with its format, so a second store or an incompatible
// version is refused with ErrLocked or ErrIncompatibleFormat.
//
//	logs, err := storepebble.Open(storepebble.Config{Dir: "data/log"})
//	if err != nil {
//		return err
//	}
//	defer logs.Close()
//	snaps, err := storepebble.OpenSnapshotStore(storepebble.SnapshotConfig{Dir: "data/snapshots"})
//	if err != nil {
//		return err
//	}
//	// Hand logs and snaps to the raftcore engine's configuration.
//
// Both stores pass raftcore/storetest. The package's tests also crash the
// store at random points with pebble's crash-simulating filesystem, kill a
// writer process with SIGKILL, and inject disk errors.
package storepebble
