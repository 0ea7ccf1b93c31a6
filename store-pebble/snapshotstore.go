package storepebble

import storesnapfile "github.com/jangada-io/jangada/store-snapfile"

// SnapshotStore is the file snapshot store shared by jangada's durable
// stores (see package storesnapfile): zstd-compressed, checksummed files,
// committed by rename and directory sync.
type SnapshotStore = storesnapfile.SnapshotStore

// SnapshotConfig configures OpenSnapshotStore.
type SnapshotConfig = storesnapfile.SnapshotConfig

// OpenSnapshotStore opens (creating if needed) the snapshot directory.
func OpenSnapshotStore(cfg SnapshotConfig) (*SnapshotStore, error) {
	return storesnapfile.OpenSnapshotStore(cfg)
}
