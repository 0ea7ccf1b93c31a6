package app

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"go.uber.org/fx"

	raftcore "github.com/jangada-io/jangada/raft-core"
	storebadger "github.com/jangada-io/jangada/store-badger"
	storepebble "github.com/jangada-io/jangada/store-pebble"
	storesnapfile "github.com/jangada-io/jangada/store-snapfile"
	storewal "github.com/jangada-io/jangada/store-wal"
)

// Stores lists the store backends this build can use.
func Stores() []string { return []string{StorePebble, StoreBadger, StoreWAL, StoreMemory} }

// StoreResult is what a store backend provides to the graph.
type StoreResult struct {
	fx.Out

	LogStore      raftcore.LogStore
	SnapshotStore raftcore.SnapshotStore
}

// StoreParams are what a store backend is built from.
type StoreParams struct {
	fx.In

	Config Config
	// DataDir is checked private before a store opens in it.
	DataDir DataDir
	Logger  *slog.Logger
	// Opened, under New, closes the stores if the node is not built.
	Opened *openedParts `optional:"true"`
}

// storeOption provides the LogStore and SnapshotStore of the backend
// cfg.Store names. The Replica owns and closes them.
func storeOption(cfg Config) fx.Option {
	switch cfg.Store {
	case StoreMemory:
		return fx.Provide(NewMemoryStores)
	case StoreBadger:
		return fx.Provide(NewBadgerStores)
	case StoreWAL:
		return fx.Provide(NewWALStores)
	default:
		return fx.Provide(NewPebbleStores)
	}
}

// NewMemoryStores provides raft-core's in-memory stores: nothing survives a
// restart.
func NewMemoryStores() StoreResult {
	return StoreResult{LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore()}
}

// NewPebbleStores opens the pebble LogStore in DataDir/raft and the snapshot
// files in DataDir/snapshots.
func NewPebbleStores(p StoreParams) (StoreResult, error) {
	return openDurableStores(p, "pebble", func(dir string) (raftcore.LogStore, error) {
		return storepebble.Open(storepebble.Config{Dir: dir})
	})
}

// NewBadgerStores opens the badger LogStore in DataDir/raft and the
// snapshot files in DataDir/snapshots.
func NewBadgerStores(p StoreParams) (StoreResult, error) {
	return openDurableStores(p, "badger", func(dir string) (raftcore.LogStore, error) {
		return storebadger.Open(storebadger.Config{Dir: dir})
	})
}

// NewWALStores opens store-wal's segmented LogStore in DataDir/raft and the
// snapshot files in DataDir/snapshots.
func NewWALStores(p StoreParams) (StoreResult, error) {
	return openDurableStores(p, "wal", func(dir string) (raftcore.LogStore, error) {
		return storewal.Open(storewal.Config{Dir: dir, Logger: p.Logger.With("component", "storewal")})
	})
}

// openDurableStores opens a LogStore with openLog in DataDir/raft and the
// file snapshot store all durable backends share in DataDir/snapshots.
func openDurableStores(p StoreParams, name string, openLog func(dir string) (raftcore.LogStore, error)) (StoreResult, error) {
	logs, err := openLog(filepath.Join(string(p.DataDir), "raft"))
	if err != nil {
		return StoreResult{}, fmt.Errorf("open %s log store: %w", name, err)
	}
	snaps, err := storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{Dir: filepath.Join(string(p.DataDir), "snapshots"), Logger: p.Logger})
	if err != nil {
		return StoreResult{}, errors.Join(fmt.Errorf("open snapshot store: %w", err), logs.Close())
	}
	p.Opened.add(logs)
	return StoreResult{LogStore: logs, SnapshotStore: snaps}, nil
}
