package raftcore

import (
	"fmt"
	"log/slog"
	"time"
)

// Preset selects a documented set of defaults. Every field of Config that is
// left at its zero value takes the preset's value; set a field to override it.
type Preset int

const (
	// Production: 100ms ticks, 100ms heartbeats, 1s election timeout, a
	// snapshot every 10,000 applied entries. The default.
	Production Preset = iota
	// Development: like Production but snapshots every 1,000 entries, so
	// snapshot and compaction paths are exercised early.
	Development
	// Testing: 10ms ticks, 10ms heartbeats, 150ms election timeout, a snapshot
	// every 1,000 entries. Elects a leader in well under a second.
	Testing
)

func (p Preset) String() string {
	switch p {
	case Production:
		return "production"
	case Development:
		return "development"
	case Testing:
		return "testing"
	}
	return fmt.Sprintf("Preset(%d)", int(p))
}

// ParsePreset parses "production", "development" or "testing".
func ParsePreset(s string) (Preset, error) {
	for _, p := range []Preset{Production, Development, Testing} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown preset %q (want production, development or testing)", ErrInvalidConfig, s)
}

// Config configures a Node. Zero values take the Preset's documented default.
type Config struct {
	// NodeID is this node's raft id. Required, never 0, never reused after the
	// member with that id was removed.
	NodeID uint64
	// Peers lists every initial member, this node included, when a new cluster
	// is bootstrapped. Every bootstrapping node must be given the same list.
	// Once the LogStore holds state, Peers is ignored: the stored membership wins.
	Peers []Peer
	// Join starts a node with an empty log that waits to be added (AddLearner
	// or AddVoter) by an existing cluster. Peers then only tell the transport
	// where the current members are.
	Join bool
	// Preset chooses the defaults below. The zero value is Production.
	Preset Preset

	// Transport carries messages. Required. The node starts and closes it.
	Transport Transport
	// LogStore holds the raft log. Required. The node closes it on Close.
	LogStore LogStore
	// SnapshotStore holds snapshot data. Required.
	SnapshotStore SnapshotStore

	// TickInterval is the length of one raft tick. Default: 100ms (Testing: 10ms).
	TickInterval time.Duration
	// HeartbeatInterval is how often a leader sends heartbeats; rounded to whole
	// ticks, at least one. Default: one tick.
	HeartbeatInterval time.Duration
	// ElectionTimeout is the minimum time without a leader before a follower
	// campaigns; raft randomises it in [ElectionTimeout, 2*ElectionTimeout).
	// Must be more than HeartbeatInterval. Default: 1s (Testing: 150ms).
	ElectionTimeout time.Duration
	// MaxLogEntries is how many entries are applied between two automatic
	// snapshots (followed by log compaction). Default: 10,000 (Development and
	// Testing: 1,000). Set DisableAutoSnapshot to turn automatic snapshots off.
	MaxLogEntries uint64
	// DisableAutoSnapshot turns automatic snapshots off; Snapshot still works.
	DisableAutoSnapshot bool
	// TrailingLogEntries is how many entries are kept before a snapshot's index
	// when compacting, so slightly-behind followers catch up without a
	// snapshot. Default: MaxLogEntries/2.
	TrailingLogEntries uint64
	// SnapshotsRetained is how many snapshots are kept. Default: 2.
	SnapshotsRetained int

	// MaxCommandSize bounds one encoded command; larger ones fail with
	// ErrTooLarge. Default: 4 MiB.
	MaxCommandSize int
	// MaxSizePerMsg bounds the entries bytes of one append message. Default: 1 MiB.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds append messages in flight per follower. Default: 2.
	//
	// It is also how appends are batched: while the window is full, new
	// entries wait and go out together in one message when an
	// acknowledgement frees a slot, so the number of appends (and of
	// acknowledgements, fsyncs on followers and packets) follows the round
	// trip, not the rate of proposals. A window of 256 sends about one append
	// per proposal under load: 7 messages per write at 64 clients instead of
	// under 1, and a third more CPU per write; 2 made 3-7% more writes per
	// second than 4 at 64 clients on three nodes sharing a disk. Each append
	// carries up to MaxSizePerMsg, so 2 still keeps 2 MiB in flight per
	// follower (40 MB/s of catch-up over a 50 ms round trip); raise it for
	// links with a long round trip.
	MaxInflightMsgs int
	// MaxUncommittedSize bounds the bytes of uncommitted entries a leader
	// accepts; beyond it proposals fail with ErrProposalDropped. Default: 64 MiB.
	MaxUncommittedSize uint64
	// MaxApplyingSize bounds the bytes of committed entries being applied at
	// once. Default: 32 MiB.
	MaxApplyingSize uint64
	// EntryCacheSize bounds the bytes of recently saved entries kept in
	// memory, so that applying them and sending them to followers does not
	// read the LogStore. Default: 16 MiB; negative disables the cache.
	EntryCacheSize int64
	// ProposalQueueSize bounds proposals waiting for the raft goroutine.
	// Default: 4096.
	ProposalQueueSize int
	// FailFastWhenBusy makes Propose return ErrBusy at once when the proposal
	// queue is full, instead of waiting for room until its context is done.
	FailFastWhenBusy bool

	// LeaseReads lets the leader serve Read from a lease for most of an
	// election timeout after a read index round, without a round per read.
	// Safe while the nodes' clocks run at rates within 20% of each other; the
	// lease is measured on the wall clock (a paused process wakes with it
	// expired), ends when the leader starts a leadership transfer, and a
	// restarted node refuses votes for its first election timeout. Reads
	// forwarded by followers still take a round. While the lease holds, Read
	// is served on the calling goroutine, without the raft goroutine. Set it
	// alike on every node of a cluster. Default: off.
	LeaseReads bool
	// Now is the wall clock lease reads are measured with. Default:
	// time.Now. A simulator gives its virtual clock. It is called from
	// the goroutines that call Read, so it must be safe for concurrent use.
	Now func() time.Time
	// DisablePreVote turns off raft's pre-vote phase (on by default; it keeps a
	// partitioned node from disrupting the cluster when it returns).
	DisablePreVote bool

	// Logger receives the engine's and raft's logs. Default: discard.
	Logger *slog.Logger
	// Observer, when set, is told about proposals, applies, log saves, reads
	// and snapshots (see the observe module for Prometheus and OpenTelemetry).
	Observer Observer
}

// withDefaults returns a copy of c with every zero field set from its preset.
func (c Config) withDefaults() Config {
	tick, election, logEntries := 100*time.Millisecond, time.Second, uint64(10_000)
	switch c.Preset {
	case Development:
		logEntries = 1_000
	case Testing:
		tick, election, logEntries = 10*time.Millisecond, 150*time.Millisecond, 1_000
	}
	if c.TickInterval == 0 {
		c.TickInterval = tick
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.TickInterval
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = election
	}
	if c.MaxLogEntries == 0 {
		c.MaxLogEntries = logEntries
	}
	if c.TrailingLogEntries == 0 {
		c.TrailingLogEntries = c.MaxLogEntries / 2
	}
	if c.SnapshotsRetained == 0 {
		c.SnapshotsRetained = 2
	}
	if c.MaxCommandSize == 0 {
		c.MaxCommandSize = 4 << 20
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 2
	}
	if c.MaxUncommittedSize == 0 {
		c.MaxUncommittedSize = 64 << 20
	}
	if c.MaxApplyingSize == 0 {
		c.MaxApplyingSize = 32 << 20
	}
	if c.EntryCacheSize == 0 {
		c.EntryCacheSize = 16 << 20
	}
	if c.ProposalQueueSize == 0 {
		c.ProposalQueueSize = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// Validate reports the first problem with c, after defaults are applied, as
// an error wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.NodeID == 0:
		return bad("NodeID must not be 0")
	case c.NodeID >= 1<<63:
		return bad("NodeID %d is reserved", c.NodeID)
	case c.Transport == nil:
		return bad("Transport is required")
	case c.LogStore == nil:
		return bad("LogStore is required")
	case c.SnapshotStore == nil:
		return bad("SnapshotStore is required")
	case c.Preset < Production || c.Preset > Testing:
		return bad("unknown preset %d", c.Preset)
	case c.TickInterval < time.Millisecond:
		return bad("TickInterval %v is below 1ms", c.TickInterval)
	case c.HeartbeatInterval < c.TickInterval:
		return bad("HeartbeatInterval %v is shorter than TickInterval %v", c.HeartbeatInterval, c.TickInterval)
	case c.ElectionTimeout <= c.HeartbeatInterval:
		return bad("ElectionTimeout %v must exceed HeartbeatInterval %v", c.ElectionTimeout, c.HeartbeatInterval)
	case c.SnapshotsRetained < 1:
		return bad("SnapshotsRetained must be at least 1")
	case c.MaxCommandSize < 0 || c.ProposalQueueSize < 0 || c.MaxInflightMsgs < 0:
		return bad("sizes must not be negative")
	case c.TrailingLogEntries > c.MaxLogEntries*10:
		return bad("TrailingLogEntries %d is far above MaxLogEntries %d", c.TrailingLogEntries, c.MaxLogEntries)
	}
	if c.Join {
		return nil
	}
	seen := map[uint64]bool{}
	for _, p := range c.Peers {
		if p.ID == 0 {
			return bad("peer with id 0")
		}
		if seen[p.ID] {
			return bad("peer %d listed twice", p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

func (c Config) heartbeatTicks() int {
	return max(1, int(c.HeartbeatInterval/c.TickInterval))
}

func (c Config) electionTicks() int {
	return max(c.heartbeatTicks()+1, int(c.ElectionTimeout/c.TickInterval))
}
