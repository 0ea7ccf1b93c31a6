package transportmem

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Network is an in-process network connecting the Transports created from it.
// It injects the faults it is configured with and counts what happens on each
// link. All methods are safe for concurrent use.
//
// A Network starts no goroutines: each Transport owns the goroutines that
// deliver its outbound messages, and Transport.Close stops them.
type Network struct {
	cfg  NetworkConfig
	seed uint64

	defaultFaults atomic.Pointer[Faults]
	partition     atomic.Pointer[partitionState]

	mu    sync.RWMutex
	nodes map[string]*Transport // open transports by address
	links map[linkKey]*linkState
	conns map[conn]struct{} // open streams and snapshot bodies
}

// NewNetwork returns an empty network. It returns an error wrapping
// ErrInvalidConfig when cfg does not validate.
func NewNetwork(cfg NetworkConfig) (*Network, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Network{
		cfg:   cfg,
		seed:  cfg.Seed,
		nodes: make(map[string]*Transport),
		links: make(map[linkKey]*linkState),
		conns: make(map[conn]struct{}),
	}
	if n.seed == 0 {
		n.seed = rand.Uint64() | 1
	}
	faults := cfg.Faults
	n.defaultFaults.Store(&faults)
	n.partition.Store(&partitionState{})
	return n, nil
}

// Seed returns the seed of the network's random decisions: NetworkConfig.Seed,
// or the one picked when it was zero. Log it when a test fails so the run can
// be replayed.
func (n *Network) Seed() uint64 { return n.seed }

// Transport creates the transport of node p on this network. p.Addr is the
// address others reach it by; when empty it is "mem-<id>". The address must
// not be in use by another open transport; it is freed by Close, so a node
// can be restarted on the same address.
func (n *Network) Transport(p raftcore.Peer) (*Transport, error) {
	if p.ID == 0 {
		return nil, fmt.Errorf("%w: id 0", ErrInvalidPeer)
	}
	if p.Addr == "" {
		p.Addr = fmt.Sprintf("mem-%d", p.ID)
	}
	p.Key = append([]byte(nil), p.Key...)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[p.Addr]; ok {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, p.Addr)
	}
	t := newTransport(n, p)
	n.nodes[p.Addr] = t
	return t, nil
}

// SetFaults replaces the faults of every link that has none of its own.
func (n *Network) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f = f.withDefaults()
	n.defaultFaults.Store(&f)
	return nil
}

// SetLinkFaults sets the faults of the one-way link from → to, overriding the
// network's faults.
func (n *Network) SetLinkFaults(from, to uint64, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f = f.withDefaults()
	n.link(from, to).faults.Store(&f)
	return nil
}

// ClearLinkFaults makes the link from → to follow the network's faults again.
func (n *Network) ClearLinkFaults(from, to uint64) {
	n.link(from, to).faults.Store(nil)
}

// Partition cuts every link between a node of groupA and a node of groupB,
// in both directions, in addition to the cuts already in place. Streams and
// snapshots crossing a cut link fail with ErrPartitioned.
func (n *Network) Partition(groupA, groupB []uint64) {
	n.updatePartition(func(p *partitionState) {
		for _, a := range groupA {
			for _, b := range groupB {
				p.cut[linkKey{a, b}] = true
				p.cut[linkKey{b, a}] = true
			}
		}
	})
}

// Isolate cuts every link to and from id.
func (n *Network) Isolate(id uint64) {
	n.updatePartition(func(p *partitionState) { p.isolated[id] = true })
}

// Cut cuts the one-way link from → to: messages from `from` to `to` are
// dropped while messages the other way still flow. Streams and snapshots need
// both directions, so they fail across a one-way cut.
func (n *Network) Cut(from, to uint64) {
	n.updatePartition(func(p *partitionState) { p.cut[linkKey{from, to}] = true })
}

// Heal removes every partition, isolation and cut.
func (n *Network) Heal() {
	n.updatePartition(func(p *partitionState) {
		clear(p.cut)
		clear(p.isolated)
	})
}

// Reachable reports whether messages from → to currently get through the
// partitions (other faults aside).
func (n *Network) Reachable(from, to uint64) bool {
	return !n.partition.Load().blocked(from, to)
}

// LinkStats counts what happened to the messages sent on the one-way link
// from → to. Once the link is idle, Sent + Duplicated = Delivered + Dropped.
type LinkStats struct {
	// Sent counts messages passed to Send, including those dropped at once.
	Sent uint64
	// Duplicated counts the extra copies made by the Duplicate fault.
	Duplicated uint64
	// Delivered counts messages handed to the receiver's Handler.
	Delivered uint64
	// Dropped counts messages lost: by the Drop fault, a partition, a full
	// queue, an unknown or unreachable peer, RemovePeer or Close.
	Dropped uint64
}

// LinkStats returns the counters of the link from → to.
func (n *Network) LinkStats(from, to uint64) LinkStats {
	l := n.link(from, to)
	return LinkStats{
		Sent:       l.sent.Load(),
		Duplicated: l.duplicated.Load(),
		Delivered:  l.delivered.Load(),
		Dropped:    l.dropped.Load(),
	}
}

type linkKey struct{ from, to uint64 }

// linkState is what the network keeps of a one-way link between two ids,
// whichever transports are at its ends over time.
type linkState struct {
	net    *Network
	faults atomic.Pointer[Faults] // nil: the network's faults

	rngMu sync.Mutex
	rng   *rand.Rand

	sent, duplicated, delivered, dropped atomic.Uint64
}

func (n *Network) link(from, to uint64) *linkState {
	key := linkKey{from, to}
	n.mu.RLock()
	l := n.links[key]
	n.mu.RUnlock()
	if l != nil {
		return l
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.links[key]; l != nil {
		return l
	}
	l = &linkState{
		net: n,
		rng: rand.New(rand.NewPCG(n.seed, from*0x9e3779b97f4a7c15^to)),
	}
	n.links[key] = l
	return l
}

func (l *linkState) currentFaults() *Faults {
	if f := l.faults.Load(); f != nil {
		return f
	}
	return l.net.defaultFaults.Load()
}

// partitionState is immutable once published; updates copy it.
type partitionState struct {
	cut      map[linkKey]bool
	isolated map[uint64]bool
}

func (p *partitionState) blocked(from, to uint64) bool {
	return p.cut[linkKey{from, to}] || p.isolated[from] || p.isolated[to]
}

func (n *Network) updatePartition(update func(p *partitionState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.partition.Load()
	next := &partitionState{cut: make(map[linkKey]bool), isolated: make(map[uint64]bool)}
	for k, v := range old.cut {
		next.cut[k] = v
	}
	for k, v := range old.isolated {
		next.isolated[k] = v
	}
	update(next)
	n.partition.Store(next)
	for c := range n.conns {
		a, b := c.ends()
		if next.blocked(a.self.ID, b.self.ID) || next.blocked(b.self.ID, a.self.ID) {
			c.abort(fmt.Errorf("%w: %d and %d", ErrPartitioned, a.self.ID, b.self.ID))
			delete(n.conns, c)
		}
	}
}

// resolve returns the open transport listening on addr, or nil.
func (n *Network) resolve(addr string) *Transport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodes[addr]
}

func (n *Network) unregister(t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[t.self.Addr] == t {
		delete(n.nodes, t.self.Addr)
	}
}

// conn is a byte stream between two transports: a Stream or a snapshot body.
// The network aborts it when a partition cuts it or either end closes.
type conn interface {
	ends() (a, b *Transport)
	abort(err error)
}

// addConn registers c unless a partition already cuts it.
func (n *Network) addConn(c conn) error {
	a, b := c.ends()
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.partition.Load()
	if p.blocked(a.self.ID, b.self.ID) || p.blocked(b.self.ID, a.self.ID) {
		return fmt.Errorf("%w: %d and %d", ErrPartitioned, a.self.ID, b.self.ID)
	}
	n.conns[c] = struct{}{}
	return nil
}

func (n *Network) removeConn(c conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
}

// abortConnsOf aborts every conn with t at one end.
func (n *Network) abortConnsOf(t *Transport, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.conns {
		if a, b := c.ends(); a == t || b == t {
			c.abort(err)
			delete(n.conns, c)
		}
	}
}
