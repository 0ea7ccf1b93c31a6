package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/jangada-io/jangada/bench/harness"
)

// hashicorpTuning is what a careful user of hashicorp/raft sets for
// throughput, with the same election timing as the other systems.
const hashicorpTuning = "HeartbeatTimeout 1s, ElectionTimeout 1s, LeaderLeaseTimeout 500ms, " +
	"MaxAppendEntries 1024 (the maximum), BatchApplyCh on, TrailingLogs 10240, SnapshotThreshold 8192, " +
	"NoSnapshotRestoreOnStart, logs silenced; LogCache of 512 entries in front of the log store; " +
	"TCP transport on 127.0.0.1 with a pool of 3 connections per peer and 10s I/O timeout " +
	"(pipelined AppendEntries); boltdb v2 (bbolt, fsync on every batch) or InmemStore; " +
	"file or in-memory snapshot store"

func hashicorpSystem(durable bool) harness.System {
	name := "hashicorp/tcp+inmem"
	if durable {
		name = harness.HeadlineHashicorp
	}
	return harness.System{
		Name:    name,
		Family:  harness.FamilyHashicorp,
		Durable: durable,
		Tuning:  hashicorpTuning,
		Start: func(ctx context.Context, spec harness.ClusterSpec) (harness.Cluster, error) {
			return startHashicorp(ctx, spec, durable)
		},
	}
}

// hashicorpFSM adapts Machine to raft.FSM.
type hashicorpFSM struct{ m *Machine }

func (f hashicorpFSM) Apply(l *raft.Log) any { return f.m.Apply(l.Index, l.Data) }

func (f hashicorpFSM) Snapshot() (raft.FSMSnapshot, error) {
	count, data := f.m.state()
	return machineSnapshot{count: count, data: data}, nil
}

func (f hashicorpFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	return f.m.Restore(r)
}

// machineSnapshot is a point-in-time view of a Machine: its data is
// append-only, so the slice does not change under Persist.
type machineSnapshot struct {
	count uint64
	data  []byte
}

func (s machineSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeMachineState(sink, s.count, s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (machineSnapshot) Release() {}

type hashicorpNode struct {
	id      raft.ServerID
	addr    string
	dir     string
	machine *Machine
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	closers []io.Closer
}

type hashicorpCluster struct {
	spec    harness.ClusterSpec
	durable bool
	servers []raft.Server
	mu      sync.Mutex
	nodes   []*hashicorpNode
	target  uint64
}

func startHashicorp(ctx context.Context, spec harness.ClusterSpec, durable bool) (*hashicorpCluster, error) {
	c := &hashicorpCluster{spec: spec, durable: durable}
	for i := range spec.Nodes {
		addr, err := freeTCPAddr()
		if err != nil {
			return nil, err
		}
		id := raft.ServerID(fmt.Sprintf("node%d", i+1))
		c.servers = append(c.servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(addr)})
		c.nodes = append(c.nodes, &hashicorpNode{
			id: id, addr: addr, dir: filepath.Join(spec.Dir, string(id)), machine: NewMachine(spec.KeepData),
		})
	}
	started := c.nodes
	if spec.HoldBack {
		started = c.nodes[:len(c.nodes)-1]
	}
	for _, n := range started {
		if err := c.startNode(n, true); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if err := c.WaitLeader(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// freeTCPAddr reserves a loopback port by listening on it and closing the
// listener, so that every node's address is known before any node starts.
func freeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func (c *hashicorpCluster) config(id raft.ServerID) *raft.Config {
	cfg := raft.DefaultConfig()
	cfg.LocalID = id
	cfg.HeartbeatTimeout = harness.ElectionTimeout
	cfg.ElectionTimeout = harness.ElectionTimeout
	cfg.LeaderLeaseTimeout = harness.ElectionTimeout / 2
	cfg.MaxAppendEntries = 1024
	cfg.BatchApplyCh = true
	cfg.NoSnapshotRestoreOnStart = true
	cfg.Logger = hclog.NewNullLogger()
	if c.spec.KeepData {
		cfg.TrailingLogs = 1
	}
	return cfg
}

func (c *hashicorpCluster) startNode(n *hashicorpNode, bootstrap bool) error {
	cfg := c.config(n.id)
	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if c.durable {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return err
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.dir, "raft.db")})
		if err != nil {
			return fmt.Errorf("bench: open boltdb: %w", err)
		}
		n.closers = append(n.closers, bolt)
		logs, stable = bolt, bolt
		fileSnaps, err := raft.NewFileSnapshotStore(n.dir, 2, io.Discard)
		if err != nil {
			return fmt.Errorf("bench: open snapshot store: %w", err)
		}
		snaps = fileSnaps
	} else {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	}
	cached, err := raft.NewLogCache(512, logs)
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransport(n.addr, nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		return fmt.Errorf("bench: hashicorp transport: %w", err)
	}
	n.trans = trans
	if bootstrap {
		if err := raft.BootstrapCluster(cfg, cached, stable, snaps, trans, raft.Configuration{Servers: c.servers}); err != nil {
			return fmt.Errorf("bench: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(cfg, hashicorpFSM{m: n.machine}, cached, stable, snaps, trans)
	if err != nil {
		return fmt.Errorf("bench: start hashicorp node: %w", err)
	}
	c.mu.Lock()
	n.raft = r
	c.mu.Unlock()
	return nil
}

func (c *hashicorpCluster) leader() *hashicorpNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.raft != nil && n.raft.State() == raft.Leader {
			return n
		}
	}
	return nil
}

// appliedPoll is how often a read waiting for the FSM to catch up with the
// commit index checks again; hashicorp/raft has no notification for it.
const appliedPoll = 50 * time.Microsecond

// timeout turns ctx's deadline into the timeout hashicorp's API takes.
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

func (c *hashicorpCluster) Write(ctx context.Context, cmd []byte) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	return l.raft.Apply(cmd, timeout(ctx)).Error()
}

func (c *hashicorpCluster) Read(ctx context.Context, kind harness.ReadKind) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	switch kind {
	case harness.ReadIndex:
		// What Consul does for a consistent read: note the commit index,
		// confirm leadership with a quorum round (VerifyLeader), then wait
		// until the FSM applied up to the noted index.
		index := l.raft.CommitIndex()
		if err := l.raft.VerifyLeader().Error(); err != nil {
			return err
		}
		for l.raft.AppliedIndex() < index {
			if err := ctx.Err(); err != nil {
				return err
			}
			time.Sleep(appliedPoll)
		}
		l.machine.read()
		return nil
	case harness.ReadStale:
		l.machine.read()
		return nil
	}
	return fmt.Errorf("%w: hashicorp/raft has no %s reads", harness.ErrUnsupported, kind)
}

func (c *hashicorpCluster) WaitLeader(ctx context.Context) error {
	return harness.WaitFor(ctx, func() bool { return c.leader() != nil })
}

func (c *hashicorpCluster) KillLeader(ctx context.Context) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.mu.Lock()
	r := l.raft
	l.raft = nil
	c.mu.Unlock()
	return stopHashicorp(l, r)
}

func stopHashicorp(n *hashicorpNode, r *raft.Raft) error {
	// Close the transport first so that peers see the node vanish as a
	// crash would, then stop raft.
	errs := []error{n.trans.Close(), r.Shutdown().Error()}
	for _, cl := range n.closers {
		errs = append(errs, cl.Close())
	}
	n.closers = nil
	return errors.Join(errs...)
}

func (c *hashicorpCluster) Snapshot(ctx context.Context) error {
	c.mu.Lock()
	var running []*raft.Raft
	for _, n := range c.nodes {
		if n.raft != nil {
			running = append(running, n.raft)
		}
	}
	c.mu.Unlock()
	for _, r := range running {
		// A follower that applied nothing since its last snapshot has
		// nothing to compact; only the leader's snapshot is sent.
		if err := r.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			return fmt.Errorf("bench: hashicorp snapshot: %w", err)
		}
	}
	return ctx.Err()
}

func (c *hashicorpCluster) StartHeldBack(ctx context.Context) error {
	if !c.spec.HoldBack {
		return fmt.Errorf("%w: cluster has no held-back node", harness.ErrInvalidConfig)
	}
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.target = l.raft.AppliedIndex()
	// The held-back node starts with no configuration: it follows the
	// leader that contacts it, as a node joining after bootstrap does.
	return c.startNode(c.nodes[len(c.nodes)-1], false)
}

func (c *hashicorpCluster) WaitCaughtUp(ctx context.Context) error {
	n := c.nodes[len(c.nodes)-1]
	c.mu.Lock()
	r := n.raft
	c.mu.Unlock()
	if r == nil {
		return fmt.Errorf("%w: held-back node is not running", harness.ErrInvalidConfig)
	}
	return harness.WaitFor(ctx, func() bool { return r.AppliedIndex() >= c.target })
}

func (c *hashicorpCluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		c.mu.Lock()
		r := n.raft
		n.raft = nil
		c.mu.Unlock()
		if r != nil {
			errs = append(errs, stopHashicorp(n, r))
			continue
		}
		if n.trans != nil {
			errs = append(errs, n.trans.Close())
		}
		for _, cl := range n.closers {
			errs = append(errs, cl.Close())
		}
		n.closers = nil
	}
	return errors.Join(errs...)
}
