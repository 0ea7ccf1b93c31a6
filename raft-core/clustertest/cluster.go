package clustertest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Network gives nodes their transports and cuts links between them.
type Network interface {
	// Peer describes node id as the other nodes must know it (address, key).
	Peer(id uint64) raftcore.Peer
	// Transport returns a new endpoint for node id. Once the previous
	// endpoint of id is closed, calling it again models a restarted process.
	Transport(t testing.TB, id uint64) raftcore.Transport
	// Partition cuts every link between the groups, both ways. Nodes in no
	// group keep their links.
	Partition(groups ...[]uint64)
	// Heal restores every link.
	Heal()
}

// Stores opens the durable state of a node. Opening the same id again after
// the node closed returns what the previous incarnation persisted.
type Stores interface {
	Open(t testing.TB, id uint64) (raftcore.LogStore, raftcore.SnapshotStore)
}

// Options configure Run.
type Options struct {
	// NewNetwork returns a fresh network for one test. Required.
	NewNetwork func(t testing.TB) Network
	// NewStores returns fresh stores for one test. Default: MemoryStores.
	NewStores func(t testing.TB) Stores
	// Configure, when set, adjusts every node's Config.
	Configure func(*raftcore.Config)
	// Short runs a reduced load (fewer operations) for slow transports.
	Short bool
}

// Cluster is a set of nodes replicating one kind of state machine.
type Cluster[C, R any] struct {
	T      testing.TB
	Net    Network
	Stores Stores
	peers  []raftcore.Peer
	newSM  func() raftcore.StateMachine[C, R]
	codec  raftcore.Codec[C]
	opts   Options

	mu    sync.Mutex
	nodes map[uint64]*Node[C, R]
}

// Node is one running member and its state machine.
type Node[C, R any] struct {
	*raftcore.Node[C, R]
	SM raftcore.StateMachine[C, R]
}

// NewCluster starts n bootstrapped nodes with ids 1..n.
func NewCluster[C, R any](t testing.TB, opts Options, n int, newSM func() raftcore.StateMachine[C, R], codec raftcore.Codec[C]) *Cluster[C, R] {
	t.Helper()
	stores := Stores(NewMemoryStores())
	if opts.NewStores != nil {
		stores = opts.NewStores(t)
	}
	c := &Cluster[C, R]{T: t, Net: opts.NewNetwork(t), Stores: stores, newSM: newSM, codec: codec, opts: opts, nodes: map[uint64]*Node[C, R]{}}
	for id := uint64(1); id <= uint64(n); id++ {
		c.peers = append(c.peers, c.Net.Peer(id))
	}
	t.Cleanup(c.CloseAll)
	for _, p := range c.peers {
		c.Start(p.ID, false)
	}
	return c
}

// Start starts (or restarts) node id. join starts it empty, waiting to be
// added by the cluster.
func (c *Cluster[C, R]) Start(id uint64, join bool) *Node[C, R] {
	c.T.Helper()
	ls, ss := c.Stores.Open(c.T, id)
	cfg := raftcore.Config{
		NodeID:        id,
		Peers:         c.peers,
		Join:          join,
		Preset:        raftcore.Testing,
		Transport:     c.Net.Transport(c.T, id),
		LogStore:      ls,
		SnapshotStore: ss,
	}
	if join {
		cfg.Peers = append(slices.Clone(c.peers), c.Net.Peer(id))
	}
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	sm := c.newSM()
	n, err := raftcore.Start(context.Background(), cfg, sm, c.codec)
	if err != nil {
		c.T.Fatalf("start node %d: %v", id, err)
	}
	node := &Node[C, R]{Node: n, SM: sm}
	c.mu.Lock()
	c.nodes[id] = node
	c.mu.Unlock()
	return node
}

// Kill stops node id abruptly: no leadership hand-off. Its stores keep what
// was persisted; Start(id, false) brings it back.
func (c *Cluster[C, R]) Kill(id uint64) {
	c.T.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if n == nil {
		c.T.Fatalf("kill: node %d is not running", id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time for a graceful hand-off
	_ = n.Close(ctx)
}

// Node returns running node id, or nil.
func (c *Cluster[C, R]) Node(id uint64) *Node[C, R] {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Running returns the ids of running nodes, sorted.
func (c *Cluster[C, R]) Running() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]uint64, 0, len(c.nodes))
	for id := range c.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CloseAll closes every running node gracefully.
func (c *Cluster[C, R]) CloseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range c.Running() {
		c.mu.Lock()
		n := c.nodes[id]
		delete(c.nodes, id)
		c.mu.Unlock()
		if err := n.Close(ctx); err != nil {
			c.T.Errorf("close node %d: %v", id, err)
		}
	}
}

// Leader waits until the given nodes (default: all running) agree on a
// leader that is one of them and knows it leads, and returns it.
func (c *Cluster[C, R]) Leader(ids ...uint64) *Node[C, R] {
	c.T.Helper()
	if len(ids) == 0 {
		ids = c.Running()
	}
	var lead *Node[C, R]
	WaitFor(c.T, "an agreed leader", 15*time.Second, func() bool {
		var want uint64
		for _, id := range ids {
			n := c.Node(id)
			if n == nil {
				return false
			}
			l := n.Leader()
			if l == 0 || (want != 0 && l != want) {
				return false
			}
			want = l
		}
		if !slices.Contains(ids, want) {
			return false
		}
		lead = c.Node(want)
		return lead != nil && lead.IsLeader()
	})
	return lead
}

// Follower returns a running node that is not the leader.
func (c *Cluster[C, R]) Follower() *Node[C, R] {
	c.T.Helper()
	lead := c.Leader()
	for _, id := range c.Running() {
		if id != lead.ID() {
			return c.Node(id)
		}
	}
	c.T.Fatal("no follower running")
	return nil
}

// WaitApplied waits until every running node applied at least index.
func (c *Cluster[C, R]) WaitApplied(index uint64) {
	c.T.Helper()
	WaitFor(c.T, fmt.Sprintf("all nodes to apply index %d", index), 15*time.Second, func() bool {
		for _, id := range c.Running() {
			if n := c.Node(id); n == nil || n.AppliedIndex() < index {
				return false
			}
		}
		return true
	})
}

// WaitFor polls cond every few milliseconds until it holds, failing the test
// after d.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Context returns a context cancelled after d or at the end of the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// MemoryStores keeps every node's stores in memory across restarts.
type MemoryStores struct {
	mu     sync.Mutex
	stores map[uint64]memoryPair
}

type memoryPair struct {
	ls *raftcore.MemoryLogStore
	ss *raftcore.MemorySnapshotStore
}

// NewMemoryStores returns an empty set of stores.
func NewMemoryStores() *MemoryStores { return &MemoryStores{stores: map[uint64]memoryPair{}} }

// Open implements Stores.
func (m *MemoryStores) Open(_ testing.TB, id uint64) (raftcore.LogStore, raftcore.SnapshotStore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.stores[id]
	if !ok {
		p = memoryPair{ls: raftcore.NewMemoryLogStore(), ss: raftcore.NewMemorySnapshotStore()}
		m.stores[id] = p
	}
	return survivingLog{p.ls}, p.ss
}

// Wipe forgets node id's state, as if its disk were replaced.
func (m *MemoryStores) Wipe(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.stores, id)
}

// survivingLog ignores Close so that a restarted node finds its log again,
// as it would find its files on disk.
type survivingLog struct{ *raftcore.MemoryLogStore }

func (survivingLog) Close() error { return nil }

// Loopback is a minimal in-process Network: ordered, lossless links that a
// test can partition. Use transport-mem for delays, loss and reordering.
type Loopback struct {
	mu    sync.Mutex
	nodes map[uint64]*loopbackTransport
	cut   map[[2]uint64]bool
}

// NewLoopback returns a Loopback network.
func NewLoopback(testing.TB) Network {
	return &Loopback{nodes: map[uint64]*loopbackTransport{}, cut: map[[2]uint64]bool{}}
}

// Peer implements Network.
func (l *Loopback) Peer(id uint64) raftcore.Peer {
	return raftcore.Peer{ID: id, Addr: fmt.Sprintf("loopback-%d", id)}
}

// Transport implements Network.
func (l *Loopback) Transport(_ testing.TB, id uint64) raftcore.Transport {
	t := &loopbackTransport{net: l, id: id, inbox: make(chan []*raftpb.Message, 1024), stop: make(chan struct{})}
	l.mu.Lock()
	l.nodes[id] = t
	l.mu.Unlock()
	return t
}

// Partition implements Network.
func (l *Loopback) Partition(groups ...[]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					l.cut[[2]uint64{x, y}] = true
				}
			}
		}
	}
}

// Heal implements Network.
func (l *Loopback) Heal() {
	l.mu.Lock()
	l.cut = map[[2]uint64]bool{}
	l.mu.Unlock()
}

func (l *Loopback) route(from, to uint64) *loopbackTransport {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut[[2]uint64{from, to}] {
		return nil
	}
	dst := l.nodes[to]
	if dst == nil || dst.closed() {
		return nil
	}
	return dst
}

type loopbackTransport struct {
	net     *Loopback
	id      uint64
	inbox   chan []*raftpb.Message
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	handler raftcore.Handler
}

func (t *loopbackTransport) closed() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

func (t *loopbackTransport) Start(h raftcore.Handler) error {
	t.mu.Lock()
	t.handler = h
	t.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			select {
			case <-t.stop:
				return
			case msgs := <-t.inbox:
				h.HandleMessages(msgs)
			}
		}
	}()
	return nil
}

func (t *loopbackTransport) Send(msgs []*raftpb.Message) {
	byTo := map[uint64][]*raftpb.Message{}
	for _, m := range msgs {
		byTo[m.GetTo()] = append(byTo[m.GetTo()], proto.Clone(m).(*raftpb.Message))
	}
	for to, ms := range byTo {
		dst := t.net.route(t.id, to)
		if dst == nil {
			continue
		}
		select {
		case dst.inbox <- ms:
		default:
			t.mu.Lock()
			h := t.handler
			t.mu.Unlock()
			if h != nil {
				h.ReportUnreachable(to)
			}
		}
	}
}

func (t *loopbackTransport) SendSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error {
	dst := t.net.route(t.id, m.GetTo())
	if dst == nil {
		return fmt.Errorf("loopback: node %d unreachable", m.GetTo())
	}
	dst.mu.Lock()
	h := dst.handler
	dst.mu.Unlock()
	if h == nil {
		return fmt.Errorf("loopback: node %d not started", m.GetTo())
	}
	return h.HandleSnapshot(ctx, proto.Clone(m).(*raftpb.Message), body)
}

func (t *loopbackTransport) AddPeer(raftcore.Peer) error { return nil }
func (t *loopbackTransport) RemovePeer(uint64)           {}

func (t *loopbackTransport) Close() error {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	return nil
}
