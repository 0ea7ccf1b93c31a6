package raftcore_test

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

type kvStepper = raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]

// harness drives Steppers by hand with finer control than stepperCluster:
// nodes can be cut off, their log writer or applier held back, restarted on
// their stores, and given faults. Everything runs in the test's goroutine.
type harness struct {
	t     *testing.T
	peers []raftcore.Peer
	cfg   func(id uint64) raftcore.Config
	fault raftcore.EngineFault
	nodes map[uint64]*hnode
	// inflight are network messages not delivered yet.
	inflight []*raftpb.Message
	// intercept, when set, sees each message before delivery and may keep
	// it from being delivered by returning false.
	intercept func(m *raftpb.Message) bool
	// onSnapshot, when set, runs before a snapshot stream reaches its node.
	onSnapshot func(m *raftpb.Message)
	// epoch, when set, gives the epoch of a node's next incarnation
	// instead of one above every earlier incarnation's (defaultEpoch).
	epoch func(n *hnode) uint64
	now   time.Time
}

type hnode struct {
	id          uint64
	s           *kvStepper
	kv          *clustertest.KV
	ls          raftcore.LogStore
	ss          *raftcore.MemorySnapshotStore
	incarnation uint64
	cut         bool
	holdPersist bool
	holdEntries bool // hold log writes from the first one with entries on
	holdApply   bool
	persistQ    []*raftpb.Message
	applyQ      []*raftpb.Message
}

// newHarness creates nodes for ids; those in peers bootstrap the cluster,
// the others join empty. cfg may adjust each node's Config.
func newHarness(t *testing.T, peers []uint64, fault raftcore.EngineFault, cfg func(*raftcore.Config)) *harness {
	h := &harness{t: t, fault: fault, nodes: map[uint64]*hnode{}, now: time.Unix(1_000_000, 0)}
	for _, id := range peers {
		h.peers = append(h.peers, raftcore.Peer{ID: id})
	}
	h.cfg = func(id uint64) raftcore.Config {
		c := raftcore.Config{
			NodeID: id, Peers: h.peers, Preset: raftcore.Testing, Transport: stepTransport{},
			Now: func() time.Time { return h.now },
		}
		if cfg != nil {
			cfg(&c)
		}
		return c
	}
	for _, id := range peers {
		h.add(id, false)
	}
	return h
}

// add starts node id on fresh stores; join makes it wait to be added.
func (h *harness) add(id uint64, join bool) *hnode {
	n := &hnode{id: id, ls: raftcore.NewMemoryLogStore(), ss: raftcore.NewMemorySnapshotStore()}
	h.nodes[id] = n
	h.start(n, join)
	return n
}

func (h *harness) start(n *hnode, join bool) {
	n.incarnation++
	cfg := h.cfg(n.id)
	cfg.Join, cfg.LogStore, cfg.SnapshotStore = join, n.ls, n.ss
	n.kv = clustertest.NewKV()
	epoch := defaultEpoch(n)
	if h.epoch != nil {
		epoch = h.epoch(n)
	}
	s, err := raftcore.NewStepper(cfg, n.kv, clustertest.JSONCodec[clustertest.KVCommand]{}, epoch)
	if err != nil {
		h.t.Fatalf("start node %d: %v", n.id, err)
	}
	if h.fault != "" {
		if err := s.InjectFault(h.fault); err != nil {
			h.t.Fatal(err)
		}
	}
	n.s = s
	n.persistQ, n.applyQ = nil, nil
}

// defaultEpoch is the epoch of n's current incarnation, above its earlier
// incarnations'.
func defaultEpoch(n *hnode) uint64 { return n.id<<40 | n.incarnation<<32 }

// restart stops node id, losing the work it had queued, and starts it again
// on its stores.
func (h *harness) restart(id uint64) {
	n := h.nodes[id]
	n.s.Fail(raftcore.ErrStopped)
	h.start(n, false)
}

func (h *harness) ids() []uint64 {
	ids := make([]uint64, 0, len(h.nodes))
	for id := range h.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ready collects every node's output and does the storage work not held.
func (h *harness) ready() bool {
	progress := false
	for _, id := range h.ids() {
		n := h.nodes[id]
		out := n.s.Ready()
		h.inflight = append(h.inflight, out.Messages...)
		for _, m := range out.Snapshots {
			h.streamSnapshot(n, m)
		}
		if out.SnapshotWanted {
			if _, err := n.s.TakeSnapshot(); err != nil {
				h.t.Fatal(err)
			}
		}
		n.persistQ = append(n.persistQ, out.Persist...)
		n.applyQ = append(n.applyQ, out.Apply...)
		progress = progress || len(out.Messages)+len(out.Snapshots)+len(out.Persist)+len(out.Apply) > 0
		progress = h.work(n) || progress
	}
	return progress
}

// work runs node n's queued log writes and applies unless held.
func (h *harness) work(n *hnode) bool {
	progress := false
	take := len(n.persistQ)
	if n.holdPersist {
		take = 0
	} else if n.holdEntries {
		// Writes without entries (votes, terms) go through, up to the
		// first append, which waits with everything after it.
		take = slices.IndexFunc(n.persistQ, func(m *raftpb.Message) bool { return len(m.GetEntries()) > 0 })
		if take < 0 {
			take = len(n.persistQ)
		}
	}
	if take > 0 {
		msgs := n.persistQ[:take:take]
		n.persistQ = n.persistQ[take:]
		resps, err := n.s.Persist(msgs)
		if err != nil {
			h.t.Fatalf("node %d persist: %v", n.id, err)
		}
		h.route(n, resps)
		progress = true
	}
	for !n.holdApply && len(n.applyQ) > 0 {
		m := n.applyQ[0]
		n.applyQ = n.applyQ[1:]
		resps, err := n.s.Apply(m)
		if err != nil {
			h.t.Fatalf("node %d apply: %v", n.id, err)
		}
		h.route(n, resps)
		progress = true
	}
	return progress
}

func (h *harness) route(n *hnode, resps []*raftpb.Message) {
	for _, m := range resps {
		if m.GetTo() == n.id {
			n.s.Step(m)
		} else {
			h.inflight = append(h.inflight, m)
		}
	}
}

func (h *harness) connected(from, to uint64) bool {
	a, b := h.nodes[from], h.nodes[to]
	return a != nil && b != nil && !a.cut && !b.cut
}

func (h *harness) streamSnapshot(from *hnode, m *raftpb.Message) {
	ok := false
	if h.connected(m.GetFrom(), m.GetTo()) {
		rc, err := from.s.OpenSnapshot(m)
		if err != nil {
			h.t.Fatalf("open snapshot: %v", err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if h.onSnapshot != nil {
			h.onSnapshot(m)
		}
		ok = h.nodes[m.GetTo()].s.ReceiveSnapshot(m, bytes.NewReader(body)) == nil
	}
	from.s.ReportSnapshot(m.GetTo(), ok)
}

// settle runs the cluster until nothing moves: every message is delivered
// or dropped, and all storage work not held back is done.
func (h *harness) settle() {
	for range 10_000 {
		progress := h.ready()
		msgs := h.inflight
		h.inflight = nil
		for _, m := range msgs {
			progress = true
			if !h.connected(m.GetFrom(), m.GetTo()) {
				continue
			}
			if h.intercept != nil && !h.intercept(m) {
				continue
			}
			if err := h.nodes[m.GetTo()].s.Deliver(m); err != nil {
				h.t.Fatalf("honest message refused: %v", err)
			}
		}
		if !progress {
			return
		}
	}
	h.t.Fatal("cluster did not settle")
}

// tick advances the clock of the given nodes (all when none given) by one
// tick and settles.
func (h *harness) tick(ids ...uint64) {
	if len(ids) == 0 {
		ids = h.ids()
	}
	h.now = h.now.Add(10 * time.Millisecond)
	for _, id := range ids {
		h.nodes[id].s.Tick()
	}
	h.settle()
}

// elect makes node id the leader by ticking it alone.
func (h *harness) elect(id uint64) {
	for range 2000 {
		if h.nodes[id].s.Role() == raftcore.RoleLeader {
			h.settle()
			return
		}
		h.tick(id)
	}
	h.t.Fatalf("node %d did not become leader", id)
}

// put proposes key=value on node id and returns the acknowledged index.
func (h *harness) put(id uint64, key, value string) uint64 {
	var index uint64
	var perr error
	done := false
	h.nodes[id].s.Propose(clustertest.KVCommand{Op: "put", Key: key, Value: value}, func(_ clustertest.KVResult, i uint64, err error) {
		index, perr, done = i, err, true
	})
	h.settle()
	if !done || perr != nil {
		h.t.Fatalf("put %s on node %d: done=%v err=%v", key, id, done, perr)
	}
	return index
}

// confChange proposes a membership change on node id and waits for it.
func (h *harness) confChange(id uint64, typ raftpb.ConfChangeType, target uint64) {
	var perr error
	done := false
	h.nodes[id].s.ProposeConfChange(typ, raftcore.Peer{ID: target}, func(_ uint64, err error) { perr, done = err, true })
	h.settle()
	if !done || perr != nil {
		h.t.Fatalf("%v %d on node %d: done=%v err=%v", typ, target, id, done, perr)
	}
}

// readIndex asks node id for a read index; the returned func reports it
// once known.
func (h *harness) readIndex(id uint64) func() (uint64, bool) {
	var index uint64
	var done bool
	h.nodes[id].s.ReadIndex(func(i uint64, err error) {
		if err != nil {
			return // the node stopped
		}
		index, done = i, true
	})
	return func() (uint64, bool) { return index, done }
}

// holdReadAnswer withholds the first read index answer addressed to node
// to; the returned func gives it (nil until there was one), to be
// delivered late.
func (h *harness) holdReadAnswer(to uint64) func() *raftpb.Message {
	var held *raftpb.Message
	h.intercept = func(m *raftpb.Message) bool {
		if m.GetType() == raftpb.MsgReadIndexResp && m.GetTo() == to && held == nil {
			held = m
			return false
		}
		return true
	}
	return func() *raftpb.Message { return held }
}

// awaitRead ticks the cluster until read (from readIndex) is answered, for
// at most 100 ticks, and returns its index.
func (h *harness) awaitRead(read func() (uint64, bool)) uint64 {
	h.t.Helper()
	for range 100 {
		if _, done := read(); done {
			break
		}
		h.tick()
	}
	index, done := read()
	if !done {
		h.t.Fatal("read never finished")
	}
	return index
}
