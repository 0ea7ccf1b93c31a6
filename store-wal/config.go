package storewal

import (
	"fmt"
	"log/slog"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Config configures Open. The zero value of every field but Dir is usable.
type Config struct {
	// Dir is the data directory. It is created if missing. Required.
	Dir string
	// SegmentSize is the size of one segment file in bytes. A Save larger
	// than a segment gets a segment of its own. The zero value means 64 MiB;
	// it must be between 1 MiB and 1 GiB. Segments are zero-filled when
	// made: a new store writes two (the first and a spare) when it opens.
	SegmentSize int64
	// Logger receives a warning for each failure the store gets over by
	// itself: an emptied segment it could not recycle or delete (the next
	// compaction tries again), a spare segment it could not make (the next
	// rollover makes its segment itself) and a spare it could not open,
	// size or remove when it came to reuse it (another spare or a new
	// segment takes its place). Any of them repeating means the disk needs
	// attention. The zero value discards them.
	Logger *slog.Logger
}

// DefaultSegmentSize is the SegmentSize of the zero Config.
const DefaultSegmentSize = 64 << 20

const (
	minSegmentSize = 1 << 20
	maxSegmentSize = 1 << 30
)

func (c Config) withDefaults() Config {
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports whether c can be used, with a message naming the field to
// fix. The error wraps raftcore.ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: storewal: Config.Dir is empty; set it to the data directory", raftcore.ErrInvalidConfig)
	case c.SegmentSize != 0 && (c.SegmentSize < minSegmentSize || c.SegmentSize > maxSegmentSize):
		return fmt.Errorf("%w: storewal: Config.SegmentSize %d is outside [1 MiB, 1 GiB]", raftcore.ErrInvalidConfig, c.SegmentSize)
	}
	return nil
}
