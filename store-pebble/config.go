package storepebble

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Config configures Open. The zero value of every field but Dir is usable.
type Config struct {
	// Dir is the data directory. It is created if missing. Required.
	Dir string
	// FS is the filesystem the store lives on. The zero value means the
	// operating system's (vfs.Default); tests use vfs.NewCrashableMem or an
	// errorfs wrapper to simulate crashes and disk errors.
	FS vfs.FS
	// Logger receives pebble's log lines. The zero value discards them.
	// Fatal lines go to Errorf: the store does not let pebble exit the
	// process, it fails the write with an error wrapping ErrStoreFailed.
	Logger pebble.Logger
	// CacheSize is the block cache size in bytes. The zero value means 8 MiB.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes. The zero value means
	// 4 MiB.
	MemTableSize uint64
}

// Defaults for Config's zero values.
const (
	DefaultCacheSize    = 8 << 20
	DefaultMemTableSize = 4 << 20
)

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Logger == nil {
		c.Logger = quietLogger{}
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = DefaultMemTableSize
	}
	return c
}

// Validate reports whether c can be used, with a message naming the field to
// fix. The error wraps raftcore.ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: storepebble: Config.Dir is empty; set it to the data directory", raftcore.ErrInvalidConfig)
	case c.CacheSize < 0:
		return fmt.Errorf("%w: storepebble: Config.CacheSize is negative (%d)", raftcore.ErrInvalidConfig, c.CacheSize)
	case c.MemTableSize != 0 && c.MemTableSize < 64<<10:
		return fmt.Errorf("%w: storepebble: Config.MemTableSize %d is below 64 KiB", raftcore.ErrInvalidConfig, c.MemTableSize)
	}
	return nil
}

// quietLogger discards pebble's log lines: it logs WAL recovery and
// background work.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}

// fatalPanicLogger passes lines to the configured logger, and turns Fatalf
// into a panic with a fatalError, because pebble does not expect Fatalf to
// return (it calls it, for one, when a WAL write or sync fails). The write
// paths recover that panic and return it as an error.
type fatalPanicLogger struct{ pebble.Logger }

func (l fatalPanicLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.Logger.Errorf("%s", msg)
	panic(fatalError{msg})
}

// fatalError is the panic value of fatalPanicLogger.Fatalf.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return e.msg }
