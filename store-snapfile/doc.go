// Package storesnapfile is the file-based raftcore.SnapshotStore shared by
// jangada's durable stores (store-pebble, store-badger): each snapshot is one
// zstd-compressed, checksummed file, written to a temporary name, synced,
// renamed and made durable with a directory sync. Open verifies the data's
// checksum when the reader reaches EOF.
//
//	ss, err := storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{Dir: "data/snapshots"})
//	cfg.SnapshotStore = ss
package storesnapfile
