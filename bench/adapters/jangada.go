package adapters

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/jangada-io/jangada/bench/harness"
	raftcore "github.com/jangada-io/jangada/raft-core"
	storebadger "github.com/jangada-io/jangada/store-badger"
	storepebble "github.com/jangada-io/jangada/store-pebble"
	storesnapfile "github.com/jangada-io/jangada/store-snapfile"
	storewal "github.com/jangada-io/jangada/store-wal"
	transportmem "github.com/jangada-io/jangada/transport-mem"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// bytesCodec passes commands through unchanged.
type bytesCodec struct{}

func (bytesCodec) Encode(b []byte) ([]byte, error) { return b, nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) { return b, nil }

const jangadaTuning = "Production preset (100ms tick and heartbeat, 1s election timeout, " +
	"snapshot every 10,000 entries), MaxSizePerMsg 1 MiB, MaxInflightMsgs 2 (the default), proposal queue 4096; " +
	"transport and store defaults (pebble: 8 MiB cache, 4 MiB memtable; badger: 64 MiB memtable; wal: 64 MiB segments; " +
	"quic: mutual TLS with pinned ed25519 keys on 127.0.0.1)"

// JangadaSystem is jangada with the given transport ("quic", "mem") and
// store ("pebble", "wal", "badger", "memory", "fsync").
func JangadaSystem(transport, store string) harness.System {
	if store == "fsync" {
		return harness.System{
			Name:       harness.FsyncFloorSystem,
			Family:     harness.FamilyJangada,
			Diagnostic: true,
			Tuning: jangadaTuning + "; store: the memory store plus, per Save, the batch written into a " +
				"preallocated 64 MiB file and fdatasync'd (a floor for durable stores, not one: it cannot recover)",
			Start: func(ctx context.Context, spec harness.ClusterSpec) (harness.Cluster, error) {
				return startJangada(ctx, spec, transport, store, nil)
			},
		}
	}
	return harness.System{
		Name:    fmt.Sprintf("jangada/%s+%s", transport, store),
		Family:  harness.FamilyJangada,
		Durable: store != "memory",
		Tuning:  jangadaTuning,
		Start: func(ctx context.Context, spec harness.ClusterSpec) (harness.Cluster, error) {
			return startJangada(ctx, spec, transport, store, nil)
		},
	}
}

// jangadaNode is one node of a jangada cluster, or the parts to start it.
type jangadaNode struct {
	cfg     raftcore.Config
	machine *Machine
	node    *raftcore.Node[[]byte, uint64]
	// started is set once Start took ownership of the transport and stores.
	started bool
}

// jangadaCluster runs jangada nodes in this process.
type jangadaCluster struct {
	spec  harness.ClusterSpec
	mu    sync.Mutex
	nodes []*jangadaNode
	// target is the node the leader's apply position is compared with in
	// WaitCaughtUp.
	target uint64
}

// startJangada starts a cluster; configure, when set, adjusts every node's
// configuration before it starts.
func startJangada(ctx context.Context, spec harness.ClusterSpec, transport, store string, configure func(*raftcore.Config)) (*jangadaCluster, error) {
	c := &jangadaCluster{spec: spec}
	transports, peers, err := jangadaTransports(transport, spec.Nodes)
	if err != nil {
		return nil, err
	}
	for i := range spec.Nodes {
		id := uint64(i + 1)
		logs, snaps, err := jangadaStores(store, filepath.Join(spec.Dir, fmt.Sprintf("node%d", id)))
		if err != nil {
			for _, t := range transports[i:] {
				_ = t.Close()
			}
			_ = c.Close()
			return nil, err
		}
		cfg := raftcore.Config{
			NodeID:        id,
			Peers:         peers,
			Preset:        raftcore.Production,
			Transport:     transports[i],
			LogStore:      logs,
			SnapshotStore: snaps,
			LeaseReads:    spec.LeaseReads,
		}
		if spec.KeepData {
			cfg.TrailingLogEntries = 1
		}
		if configure != nil {
			configure(&cfg)
		}
		c.nodes = append(c.nodes, &jangadaNode{cfg: cfg, machine: NewMachine(spec.KeepData)})
	}
	started := c.nodes
	if spec.HoldBack {
		started = c.nodes[:len(c.nodes)-1]
	}
	for _, n := range started {
		if err := c.startNode(ctx, n); err != nil {
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

func jangadaTransports(kind string, n int) ([]raftcore.Transport, []raftcore.Peer, error) {
	var (
		transports []raftcore.Transport
		peers      []raftcore.Peer
	)
	closeAll := func() {
		for _, t := range transports {
			_ = t.Close()
		}
	}
	switch kind {
	case "mem":
		network, err := transportmem.NewNetwork(transportmem.NetworkConfig{Seed: 1})
		if err != nil {
			return nil, nil, err
		}
		for i := range n {
			p := raftcore.Peer{ID: uint64(i + 1), Addr: fmt.Sprintf("node%d", i+1)}
			t, err := network.Transport(p)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			transports, peers = append(transports, t), append(peers, p)
		}
	case "quic":
		for i := range n {
			key, err := transportquic.GenerateIdentity()
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			t, err := transportquic.New(transportquic.Config{NodeID: uint64(i + 1), Identity: key, ListenAddr: "127.0.0.1:0"})
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			transports = append(transports, t)
			peers = append(peers, raftcore.Peer{ID: uint64(i + 1), Addr: t.Addr().String(), Key: t.PublicKey()})
		}
	default:
		return nil, nil, fmt.Errorf("%w: unknown transport %q", harness.ErrInvalidConfig, kind)
	}
	return transports, peers, nil
}

func jangadaStores(kind, dir string) (raftcore.LogStore, raftcore.SnapshotStore, error) {
	switch kind {
	case "memory":
		return raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore(), nil
	case "fsync":
		logs, err := openFsyncFloorStore(dir)
		if err != nil {
			return nil, nil, err
		}
		return logs, raftcore.NewMemorySnapshotStore(), nil
	case "pebble":
		logs, err := storepebble.Open(storepebble.Config{Dir: filepath.Join(dir, "log")})
		if err != nil {
			return nil, nil, err
		}
		snaps, err := storepebble.OpenSnapshotStore(storepebble.SnapshotConfig{Dir: filepath.Join(dir, "snapshots")})
		if err != nil {
			_ = logs.Close()
			return nil, nil, err
		}
		return logs, snaps, nil
	case "wal":
		logs, err := storewal.Open(storewal.Config{Dir: filepath.Join(dir, "log")})
		if err != nil {
			return nil, nil, err
		}
		snaps, err := storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{Dir: filepath.Join(dir, "snapshots")})
		if err != nil {
			_ = logs.Close()
			return nil, nil, err
		}
		return logs, snaps, nil
	case "badger":
		logs, err := storebadger.Open(storebadger.Config{Dir: filepath.Join(dir, "log")})
		if err != nil {
			return nil, nil, err
		}
		snaps, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: filepath.Join(dir, "snapshots")})
		if err != nil {
			_ = logs.Close()
			return nil, nil, err
		}
		return logs, snaps, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown store %q", harness.ErrInvalidConfig, kind)
}

func (c *jangadaCluster) startNode(ctx context.Context, n *jangadaNode) error {
	node, err := raftcore.Start(ctx, n.cfg, raftcore.StateMachine[[]byte, uint64](n.machine), bytesCodec{})
	if err != nil {
		c.mu.Lock()
		n.started = true // resources are closed here
		c.mu.Unlock()
		_ = n.cfg.Transport.Close()
		_ = n.cfg.LogStore.Close()
		return fmt.Errorf("bench: start jangada node %d: %w", n.cfg.NodeID, err)
	}
	c.mu.Lock()
	n.node, n.started = node, true
	c.mu.Unlock()
	return nil
}

// leader returns the running node that is the leader, or nil.
func (c *jangadaCluster) leader() *raftcore.Node[[]byte, uint64] {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.node != nil && n.node.IsLeader() {
			return n.node
		}
	}
	return nil
}

func (c *jangadaCluster) Write(ctx context.Context, cmd []byte) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	_, err := l.Propose(ctx, cmd)
	return err
}

func (c *jangadaCluster) Read(ctx context.Context, kind harness.ReadKind) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	m := c.machineOf(l.ID())
	read := func() error { m.read(); return nil }
	switch kind {
	case harness.ReadIndex, harness.ReadLease:
		if (kind == harness.ReadLease) != c.spec.LeaseReads {
			return fmt.Errorf("%w: cluster started with LeaseReads=%v", harness.ErrUnsupported, c.spec.LeaseReads)
		}
		return l.Read(ctx, read)
	case harness.ReadStale:
		return l.ReadStale(read)
	}
	return fmt.Errorf("%w: read kind %q", harness.ErrUnsupported, kind)
}

func (c *jangadaCluster) machineOf(id uint64) *Machine { return c.nodes[id-1].machine }

func (c *jangadaCluster) WaitLeader(ctx context.Context) error {
	return harness.WaitFor(ctx, func() bool { return c.leader() != nil })
}

func (c *jangadaCluster) KillLeader(ctx context.Context) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.mu.Lock()
	c.nodes[l.ID()-1].node = nil
	c.mu.Unlock()
	return closeAbruptly(l)
}

// closeAbruptly closes n with a context that is already done, which skips
// the leadership hand-off a graceful Close makes.
func closeAbruptly(n *raftcore.Node[[]byte, uint64]) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return n.Close(ctx)
}

func (c *jangadaCluster) Snapshot(ctx context.Context) error {
	c.mu.Lock()
	var running []*raftcore.Node[[]byte, uint64]
	for _, n := range c.nodes {
		if n.node != nil {
			running = append(running, n.node)
		}
	}
	c.mu.Unlock()
	for _, n := range running {
		if _, err := n.Snapshot(ctx); err != nil {
			return fmt.Errorf("bench: snapshot node %d: %w", n.ID(), err)
		}
	}
	return nil
}

func (c *jangadaCluster) StartHeldBack(ctx context.Context) error {
	if !c.spec.HoldBack {
		return fmt.Errorf("%w: cluster has no held-back node", harness.ErrInvalidConfig)
	}
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.target = l.AppliedIndex()
	return c.startNode(ctx, c.nodes[len(c.nodes)-1])
}

func (c *jangadaCluster) WaitCaughtUp(ctx context.Context) error {
	last := c.nodes[len(c.nodes)-1]
	c.mu.Lock()
	node := last.node
	c.mu.Unlock()
	if node == nil {
		return fmt.Errorf("%w: held-back node is not running", harness.ErrInvalidConfig)
	}
	return harness.WaitFor(ctx, func() bool { return node.AppliedIndex() >= c.target })
}

func (c *jangadaCluster) Close() error {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		c.mu.Lock()
		node, started := n.node, n.started
		n.node, n.started = nil, true
		c.mu.Unlock()
		if !started {
			errs = append(errs, n.cfg.Transport.Close(), n.cfg.LogStore.Close())
			continue
		}
		if node == nil {
			continue
		}
		// Stop without hand-offs: the benchmark is over.
		if err := closeAbruptly(node); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
