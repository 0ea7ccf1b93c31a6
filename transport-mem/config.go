package transportmem

import (
	"fmt"
	"time"
)

// Defaults applied to zero fields of NetworkConfig and Faults.
const (
	DefaultQueueSize    = 1024
	DefaultMaxBatch     = 64
	DefaultStreamBuffer = 64 << 10
	DefaultReorderHold  = 10 * time.Millisecond
)

// NetworkConfig configures a Network. The zero value is a perfect network
// with a random seed.
type NetworkConfig struct {
	// Seed drives every random fault decision. Each link draws from its own
	// generator derived from Seed and the link's ids, so one seed replays the
	// same decisions for the same sequence of messages on a link. Zero picks
	// a random seed; Network.Seed reports it.
	Seed uint64
	// QueueSize is the capacity, in messages, of the queue of each link (one
	// sender to one peer). Send drops what does not fit and reports the peer
	// unreachable. Zero means DefaultQueueSize (1024).
	QueueSize int
	// MaxBatch is the largest number of messages handed to one
	// Handler.HandleMessages call. Zero means DefaultMaxBatch (64).
	MaxBatch int
	// StreamBuffer is the number of bytes buffered in each direction of a
	// stream and of a snapshot body; a writer blocks while it is full. Zero
	// means DefaultStreamBuffer (64 KiB).
	StreamBuffer int
	// Faults applies to every link that has no faults of its own (see
	// Network.SetLinkFaults). The zero value injects nothing.
	Faults Faults
}

// Faults describes what goes wrong on a link. The zero value is a perfect
// link: every message delivered once, in order, as soon as possible.
// Probabilities are in [0, 1] and drawn per message.
type Faults struct {
	// Drop is the probability that a message is lost silently.
	Drop float64
	// Duplicate is the probability that a message is delivered twice.
	Duplicate float64
	// Delay holds every message back by this duration before delivery.
	Delay time.Duration
	// Jitter adds a uniform random extra delay in [0, Jitter) to each
	// message. Messages with different delays may overtake each other.
	Jitter time.Duration
	// Reorder is the probability that a message is held back until the next
	// message on the link has been delivered, or until ReorderHold elapsed.
	Reorder float64
	// ReorderHold bounds how long a reordered message waits for a successor.
	// Zero means DefaultReorderHold (10ms).
	ReorderHold time.Duration
}

// Validate reports a field out of range with an error wrapping
// ErrInvalidConfig.
func (f Faults) Validate() error {
	for _, p := range []struct {
		name  string
		value float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}} {
		if !(p.value >= 0 && p.value <= 1) {
			return fmt.Errorf("%w: Faults.%s is %v, want a probability in [0, 1]", ErrInvalidConfig, p.name, p.value)
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"Delay", f.Delay}, {"Jitter", f.Jitter}, {"ReorderHold", f.ReorderHold}} {
		if d.value < 0 {
			return fmt.Errorf("%w: Faults.%s is %v, want zero or more", ErrInvalidConfig, d.name, d.value)
		}
	}
	return nil
}

// active reports whether any random decision is needed for a message.
func (f *Faults) active() bool {
	return f.Drop > 0 || f.Duplicate > 0 || f.Jitter > 0 || f.Reorder > 0
}

func (f Faults) withDefaults() Faults {
	if f.ReorderHold == 0 {
		f.ReorderHold = DefaultReorderHold
	}
	return f
}

// Validate reports a field out of range with an error wrapping
// ErrInvalidConfig.
func (c NetworkConfig) Validate() error {
	if c.QueueSize < 0 {
		return fmt.Errorf("%w: QueueSize is %d, want zero (default) or more", ErrInvalidConfig, c.QueueSize)
	}
	if c.MaxBatch < 0 {
		return fmt.Errorf("%w: MaxBatch is %d, want zero (default) or more", ErrInvalidConfig, c.MaxBatch)
	}
	if c.StreamBuffer < 0 {
		return fmt.Errorf("%w: StreamBuffer is %d, want zero (default) or more", ErrInvalidConfig, c.StreamBuffer)
	}
	return c.Faults.Validate()
}

func (c NetworkConfig) withDefaults() NetworkConfig {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.StreamBuffer == 0 {
		c.StreamBuffer = DefaultStreamBuffer
	}
	c.Faults = c.Faults.withDefaults()
	return c
}
