package sim

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Nemesis names a kind of fault the simulator injects on a random schedule.
type Nemesis string

// The nemeses. NemesisAll in a list stands for every one of them.
const (
	// NemesisPartition cuts the network: a minority, a majority ring, the
	// leader alone, one direction only, or two halves joined by one bridge node.
	NemesisPartition Nemesis = "partition"
	// NemesisLoss drops a share of messages for a while.
	NemesisLoss Nemesis = "loss"
	// NemesisDelay adds latency to messages for a while.
	NemesisDelay Nemesis = "delay"
	// NemesisDuplicate delivers a share of messages twice.
	NemesisDuplicate Nemesis = "duplicate"
	// NemesisReorder adds a large random jitter, so messages overtake each other.
	NemesisReorder Nemesis = "reorder"
	// NemesisCrash crashes one or more nodes, losing every write they had not
	// synced, and restarts them later.
	NemesisCrash Nemesis = "crash"
	// NemesisSlowDisk delays a node's log writes and applies.
	NemesisSlowDisk Nemesis = "slow-disk"
	// NemesisTransfer asks the leader to hand leadership to another voter.
	NemesisTransfer Nemesis = "transfer"
	// NemesisMembership replaces a voter (possibly the leader) with a new
	// member: add as learner, promote, remove the old one.
	NemesisMembership Nemesis = "membership"
	// NemesisSnapshot takes snapshots under load; with it the nodes also
	// snapshot and compact every few dozen entries on their own.
	NemesisSnapshot Nemesis = "snapshot"
	// NemesisWipe stops a node, removes it, and rejoins its machine with
	// empty storage as a new member with a new id.
	NemesisWipe Nemesis = "wipe"
	// NemesisLongDelay holds back a share of the messages that carry entries
	// (forwarded proposals, appends) for seconds, far more applies than the
	// engine's dedup window in the simulator, and often delivers them on
	// time as well: the late copy is then a duplicate.
	NemesisLongDelay Nemesis = "long-delay"

	// NemesisRestart crashes a node and restarts it within milliseconds,
	// while messages addressed to its previous incarnation are still in
	// flight: they reach the new one late.
	NemesisRestart Nemesis = "restart"
	// NemesisApplyBacklog stalls a node's applier and cuts it off for part
	// of the stall, so that it rejoins far behind and receives a snapshot
	// with committed entries (membership changes among them) not applied.
	NemesisApplyBacklog Nemesis = "apply-backlog"
	// NemesisPause freezes a node's process (SIGSTOP, a long GC pause): its
	// ticks are lost, messages and requests wait, and on waking its clock
	// has jumped.
	NemesisPause Nemesis = "pause"
	// NemesisStaleSnapshot delivers again a snapshot streamed earlier: a
	// deposed leader's, or one the receiver is already past.
	NemesisStaleSnapshot Nemesis = "stale-snapshot"
	// NemesisHostile makes a member send crafted messages: shapes no honest
	// node sends (which must be refused) and stale copies of real ones.
	NemesisHostile Nemesis = "hostile"
	// NemesisReadError makes a node's disk fail reads of the log for a
	// while (entries; entries and terms; or every read), with what it holds
	// intact. Raft panics on such a read; the node must stop cleanly
	// (raftcore.Stepper.Err), and it restarts from its disk later, failing
	// to start while the reads still fail. It runs on a schedule and a
	// random stream of its own, so that adding it to a run leaves the
	// other nemeses' schedule as it was.
	NemesisReadError Nemesis = "read-error"

	NemesisAll Nemesis = "all"
)

// AllNemeses lists every nemesis, in the order they are documented.
var AllNemeses = []Nemesis{
	NemesisPartition, NemesisLoss, NemesisDelay, NemesisDuplicate, NemesisReorder,
	NemesisCrash, NemesisSlowDisk, NemesisTransfer, NemesisMembership, NemesisSnapshot, NemesisWipe,
	NemesisRestart, NemesisApplyBacklog, NemesisPause, NemesisStaleSnapshot, NemesisHostile,
	NemesisLongDelay, NemesisReadError,
}

// Bug names a known bug the simulator injects into the engine under test, to
// show that the checks catch it.
type Bug string

const (
	// BugStaleRead serves linearizable reads from local state, without the
	// ReadIndex round.
	BugStaleRead Bug = "stale-read"
	// BugAckBeforeFsync acknowledges log writes before they are durable: the
	// log writer's responses go out at once and the sync happens later, so a
	// crash in between loses acknowledged entries and votes.
	BugAckBeforeFsync Bug = "ack-before-fsync"
	// BugNoSessions has the clients retry writes without a client session:
	// a write whose first attempt committed applies again.
	BugNoSessions Bug = "no-sessions"
)

const (
	// BugMembershipReapply steps a received snapshot while an older
	// membership change waits for the applier (raftcore.FaultReapplyMembership).
	BugMembershipReapply Bug = Bug(raftcore.FaultReapplyMembership)
	// BugReadCtxReuse numbers read index requests from 1 in every
	// incarnation (raftcore.FaultReuseReadContexts).
	BugReadCtxReuse Bug = Bug(raftcore.FaultReuseReadContexts)
	// BugLeaseDuringTransfer serves lease reads after a transfer started
	// (raftcore.FaultLeaseDuringTransfer); it turns lease reads on.
	BugLeaseDuringTransfer Bug = Bug(raftcore.FaultLeaseDuringTransfer)
	// BugReadPanic lets raft's panic after a failed read of the log escape
	// a running node (raftcore.FaultReadPanic): a process would crash.
	// NemesisReadError exposes it.
	BugReadPanic Bug = Bug(raftcore.FaultReadPanic)
)

// AllBugs lists every injectable bug.
var AllBugs = []Bug{BugStaleRead, BugAckBeforeFsync, BugMembershipReapply, BugReadCtxReuse, BugLeaseDuringTransfer, BugNoSessions, BugReadPanic}

// Config configures one simulation run. Zero values take the documented
// defaults.
type Config struct {
	// Seed decides everything random in the run: the same seed gives the same
	// history and the same trace hash.
	Seed uint64
	// Nodes is the size of the initial cluster. Default: 3.
	Nodes int
	// Duration is the virtual time during which clients run and faults are
	// injected. All faults are healed at its end, after which the cluster has
	// HealTimeout to commit a write and converge. Default: 5s.
	Duration time.Duration
	// HealTimeout bounds, in virtual time, how long after the faults heal the
	// cluster may take to commit a write and bring every member up to date.
	// Default: 10s.
	HealTimeout time.Duration
	// Clients is the number of concurrent virtual clients, each with one
	// request in flight. Default: 4.
	Clients int
	// Keys is the number of keys the clients work on. Default: 3.
	Keys int
	// Nemeses lists the faults to inject. Empty means none.
	Nemeses []Nemesis
	// Bugs lists the known bugs to inject. Empty means the engine as it is.
	Bugs []Bug
	// Lease chooses when the nodes serve lease reads (raftcore
	// Config.LeaseReads). Default: LeaseAlternate.
	Lease LeaseMode
	// OutDir is where a failing run writes its porcupine visualisation and
	// its readable event trace. Default: os.TempDir(). "-" writes nothing.
	OutDir string
}

func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.HealTimeout == 0 {
		c.HealTimeout = 10 * time.Second
	}
	if c.Clients == 0 {
		c.Clients = 4
	}
	if c.Keys == 0 {
		c.Keys = 3
	}
	if c.OutDir == "" {
		c.OutDir = os.TempDir()
	}
	// The order of a list must not change the run: one seed, one history.
	c.Nemeses = slices.Compact(slices.Sorted(slices.Values(c.Nemeses)))
	c.Bugs = slices.Compact(slices.Sorted(slices.Values(c.Bugs)))
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Nodes < 1 || c.Nodes > 9:
		return bad("Nodes %d must be between 1 and 9", c.Nodes)
	case c.Duration < 0 || c.HealTimeout < 0:
		return bad("durations must not be negative")
	case c.Clients < 1 || c.Clients > 64:
		return bad("Clients %d must be between 1 and 64", c.Clients)
	case c.Keys < 1 || c.Keys > 1000:
		return bad("Keys %d must be between 1 and 1000", c.Keys)
	}
	for _, n := range c.Nemeses {
		if !slices.Contains(AllNemeses, n) {
			return bad("unknown nemesis %q", n)
		}
	}
	for _, b := range c.Bugs {
		if !slices.Contains(AllBugs, b) {
			return bad("unknown bug %q", b)
		}
	}
	return nil
}

func (c Config) has(n Nemesis) bool { return slices.Contains(c.Nemeses, n) }
func (c Config) bug(b Bug) bool     { return slices.Contains(c.Bugs, b) }

// LeaseMode chooses when a run's nodes serve lease reads.
type LeaseMode int

const (
	// LeaseAlternate turns lease reads on in odd seeds, and whenever an
	// injected bug needs them.
	LeaseAlternate LeaseMode = iota
	// LeaseAlways turns them on in every seed.
	LeaseAlways
	// LeaseNever turns them off, unless an injected bug needs them.
	LeaseNever
)

// ParseLeaseMode parses "alternate", "always" or "never".
func ParseLeaseMode(s string) (LeaseMode, error) {
	for m, name := range []string{"alternate", "always", "never"} {
		if s == name {
			return LeaseMode(m), nil
		}
	}
	return 0, fmt.Errorf("%w: lease mode %q (want alternate, always or never)", ErrInvalidConfig, s)
}

// leaseReads reports whether the run's nodes serve lease reads.
func (c Config) leaseReads() bool {
	switch {
	case c.bug(BugLeaseDuringTransfer) || c.Lease == LeaseAlways:
		return true
	case c.Lease == LeaseNever:
		return false
	}
	return c.Seed%2 == 1
}

// ParseNemeses parses a comma-separated list of nemesis names; "all" stands
// for every nemesis and "" or "none" for none.
func ParseNemeses(s string) ([]Nemesis, error) {
	var out []Nemesis
	for _, f := range splitList(s) {
		switch n := Nemesis(f); {
		case n == NemesisAll:
			out = append(out, AllNemeses...)
		case f == "none":
		case slices.Contains(AllNemeses, n):
			out = append(out, n)
		default:
			return nil, fmt.Errorf("%w: unknown nemesis %q (want a comma list of %s, or all)", ErrInvalidConfig, f, joinNames(AllNemeses))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseBugs parses a comma-separated list of bug names ("" for none).
func ParseBugs(s string) ([]Bug, error) {
	var out []Bug
	for _, f := range splitList(s) {
		if !slices.Contains(AllBugs, Bug(f)) {
			return nil, fmt.Errorf("%w: unknown bug %q (want %s)", ErrInvalidConfig, f, joinNames(AllBugs))
		}
		out = append(out, Bug(f))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseSeeds parses a seed range "a-b" (inclusive) or a single seed "a".
func ParseSeeds(s string) (first, last uint64, err error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if first, err = strconv.ParseUint(lo, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: seed range %q: %v", ErrInvalidConfig, s, err)
	}
	last = first
	if isRange {
		if last, err = strconv.ParseUint(hi, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%w: seed range %q: %v", ErrInvalidConfig, s, err)
		}
	}
	if last < first {
		return 0, 0, fmt.Errorf("%w: seed range %q is empty", ErrInvalidConfig, s)
	}
	return first, last, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinNames[T ~string](names []T) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}
