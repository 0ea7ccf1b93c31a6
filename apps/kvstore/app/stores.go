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
)

// Stores lists the store backends this build can use.
func Stores() []string { return []string{StorePebble, StoreBadger, StoreMemory} }

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
}

// storeOption provides the LogStore and SnapshotStore of the backend
// cfg.Store names. The Replica owns and closes them.
func storeOption(cfg Config) fx.Option {
	switch cfg.Store {
	case StoreMemory:
		return fx.Provide(NewMemoryStores)
	case StoreBadger:
		return fx.Provide(NewBadgerStores)
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
	logs, err := storepebble.Open(storepebble.Config{Dir: filepath.Join(string(p.DataDir), "raft")})
	if err != nil {
		return StoreResult{}, fmt.Errorf("open pebble log store: %w", err)
	}
	snaps, err := storepebble.OpenSnapshotStore(storepebble.SnapshotConfig{Dir: filepath.Join(string(p.DataDir), "snapshots"), Logger: p.Logger})
	if err != nil {
		return StoreResult{}, errors.Join(fmt.Errorf("open snapshot store: %w", err), logs.Close())
	}
	return StoreResult{LogStore: logs, SnapshotStore: snaps}, nil
}

// NewBadgerStores opens the badger LogStore in DataDir/raft and the
// snapshot files in DataDir/snapshots.
func NewBadgerStores(p StoreParams) (StoreResult, error) {
	logs, err := storebadger.Open(storebadger.Config{Dir: filepath.Join(string(p.DataDir), "raft")})
	if err != nil {
		return StoreResult{}, fmt.Errorf("open badger log store: %w", err)
	}
	snaps, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: filepath.Join(string(p.DataDir), "snapshots"), Logger: p.Logger})
	if err != nil {
		return StoreResult{}, errors.Join(fmt.Errorf("open snapshot store: %w", err), logs.Close())
	}
	return StoreResult{LogStore: logs, SnapshotStore: snaps}, nil
}
