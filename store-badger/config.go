package storebadger

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Config configures Open. The zero value of every field but Dir is usable.
type Config struct {
	// Dir is the data directory. It is created if missing. Required.
	Dir string
	// Logger receives badger's log lines. The zero value discards them.
	Logger badger.Logger
	// MemTableSize is the size of one memtable in bytes; it also bounds the
	// size of one Save (badger refuses a transaction larger than about 15%
	// of it). The zero value means 64 MiB.
	MemTableSize int64
	// BlockCacheSize is the block cache size in bytes. The zero value means
	// 32 MiB.
	BlockCacheSize int64
}

// Defaults for Config's zero values.
const (
	DefaultMemTableSize   = 64 << 20
	DefaultBlockCacheSize = 32 << 20
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = quietLogger{}
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	if c.BlockCacheSize == 0 {
		c.BlockCacheSize = DefaultBlockCacheSize
	}
	return c
}

// Validate reports whether c can be used, with a message naming the field to
// fix. The error wraps raftcore.ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: storebadger: Config.Dir is empty; set it to the data directory", raftcore.ErrInvalidConfig)
	case c.MemTableSize != 0 && c.MemTableSize < 1<<20:
		return fmt.Errorf("%w: storebadger: Config.MemTableSize %d is below 1 MiB", raftcore.ErrInvalidConfig, c.MemTableSize)
	case c.BlockCacheSize < 0:
		return fmt.Errorf("%w: storebadger: Config.BlockCacheSize is negative (%d)", raftcore.ErrInvalidConfig, c.BlockCacheSize)
	}
	return nil
}

func (c Config) badgerOptions() badger.Options {
	return badger.DefaultOptions(c.Dir).
		WithSyncWrites(true). // every Save is durable when it returns
		WithLogger(c.Logger).
		WithMemTableSize(c.MemTableSize).
		// Badger requires values kept in the LSM tree to fit in one batch,
		// 15% of a memtable; larger ones go to the value log.
		WithValueThreshold(min(1<<20, c.MemTableSize/10)).
		WithBlockCacheSize(c.BlockCacheSize).
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false) // one writer at a time, serialised by the store
}

// quietLogger discards badger's log lines: it logs replay and compaction
// progress.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any)   {}
func (quietLogger) Warningf(string, ...any) {}
func (quietLogger) Infof(string, ...any)    {}
func (quietLogger) Debugf(string, ...any)   {}
