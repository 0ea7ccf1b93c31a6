package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sentinel errors of the harness.
var (
	// ErrUnsupported is returned for an operation a system does not offer
	// (hashicorp/raft has no lease reads; the bare etcd-raft loop has no
	// snapshot transfer).
	ErrUnsupported = errors.New("bench: not supported by this system")
	// ErrNoLeader is returned while no running node is the leader.
	ErrNoLeader = errors.New("bench: no leader")
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("bench: invalid config")
)

// ReadKind names a kind of read.
type ReadKind string

// The read kinds measured.
const (
	// ReadIndex is a linearizable read confirmed by a quorum round.
	ReadIndex ReadKind = "readindex"
	// ReadLease is a linearizable read served from the leader's lease.
	ReadLease ReadKind = "lease"
	// ReadStale is a local read of possibly stale state.
	ReadStale ReadKind = "stale"
)

// ClusterSpec describes the cluster a scenario needs.
type ClusterSpec struct {
	// Nodes is the cluster size.
	Nodes int
	// Dir holds the nodes' durable data; the caller removes it.
	Dir string
	// LeaseReads starts the cluster with lease-based linearizable reads.
	LeaseReads bool
	// KeepData makes the state machines keep command bytes, and keeps only
	// one trailing log entry behind a snapshot so that a lagging node needs
	// the snapshot to catch up.
	KeepData bool
	// HoldBack leaves the last node unstarted until StartHeldBack.
	HoldBack bool
}

// Cluster is a running cluster of one system. Operations go to the leader,
// as a client that knows the leader would send them.
type Cluster interface {
	// Write replicates cmd and returns once the leader applied it.
	Write(ctx context.Context, cmd []byte) error
	// Read performs one read of the given kind on the leader; ErrUnsupported
	// when the system has no such read.
	Read(ctx context.Context, kind ReadKind) error
	// WaitLeader waits until a running node is the leader.
	WaitLeader(ctx context.Context) error
	// KillLeader stops the leader abruptly: no leadership hand-off.
	KillLeader(ctx context.Context) error
	// Close stops every node.
	Close() error
}

// CatchUpCluster is a Cluster that can measure a lagging node catching up
// through a snapshot.
type CatchUpCluster interface {
	Cluster
	// Snapshot takes a snapshot on every running node and compacts the log.
	Snapshot(ctx context.Context) error
	// StartHeldBack starts the node left out by ClusterSpec.HoldBack.
	StartHeldBack(ctx context.Context) error
	// WaitCaughtUp waits until that node applied everything the leader had
	// applied when it was called.
	WaitCaughtUp(ctx context.Context) error
}

// System is one implementation under test.
type System struct {
	// Name identifies the system in reports: "jangada/quic+pebble".
	Name string
	// Family is "jangada", "hashicorp" or "etcd-raft".
	Family string
	// Durable systems fsync their log before acknowledging.
	Durable bool
	// Start brings up a cluster and waits for its first leader.
	Start func(ctx context.Context, spec ClusterSpec) (Cluster, error)
	// Tuning documents the settings the system runs with.
	Tuning string
	// Diagnostic systems exist to explain the others: they run the write
	// scenarios only.
	Diagnostic bool
}

// FsyncFloorSystem is jangada over the in-memory transport with a store
// that only pays one fdatasync per Save: roughly the most a durable store
// can give the engine on this disk (see fsyncFloorStore).
const FsyncFloorSystem = "jangada/mem+fsync-floor"

// WALSystem is jangada over QUIC with store-wal, the log store written for
// the raft log alone.
const WALSystem = "jangada/quic+wal"

// Families, in report order.
const (
	FamilyJangada   = "jangada"
	FamilyHashicorp = "hashicorp"
	FamilyEtcd      = "etcd-raft"
	// FamilyCeiling holds transport ceilings: one hop without raft.
	FamilyCeiling = "ceiling"
)

// Headline systems: the durable trio the targets compare.
const (
	HeadlineJangada   = "jangada/quic+pebble"
	HeadlineHashicorp = "hashicorp/tcp+boltdb"
	HeadlineEtcd      = "etcd-raft/chan+wal"
)

// SelectSystems returns the systems whose names match one of the patterns:
// an exact name, a family ("hashicorp"), or "headline" for the durable trio.
// No patterns select every system.
func SelectSystems(all []System, patterns []string) ([]System, error) {
	if len(patterns) == 0 {
		return all, nil
	}
	var out []System
	for _, p := range patterns {
		matched := false
		for _, s := range all {
			ok := s.Name == p || s.Family == p ||
				(p == "headline" && slices.Contains([]string{HeadlineJangada, HeadlineHashicorp, HeadlineEtcd}, s.Name)) ||
				(strings.HasSuffix(p, "*") && strings.HasPrefix(s.Name, strings.TrimSuffix(p, "*")))
			if ok {
				matched = true
				if !slices.ContainsFunc(out, func(o System) bool { return o.Name == s.Name }) {
					out = append(out, s)
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("%w: no system matches %q", ErrInvalidConfig, p)
		}
	}
	return out, nil
}

// pollInterval is how often conditions without a notification (leader
// known, node caught up) are checked.
const pollInterval = 2 * time.Millisecond

// WaitFor polls cond until it is true or ctx is done.
func WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Timing shared by every system, so elections and failovers compare: 100ms
// ticks or heartbeats, elections after 1s without a leader.
const (
	HeartbeatInterval = 100 * time.Millisecond
	ElectionTimeout   = time.Second
)
