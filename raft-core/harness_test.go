package raftcore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// --- a minimal in-package network for the engine's own tests ----------------

type testNet struct {
	mu       sync.Mutex
	nodes    map[uint64]*testTransport
	cut      map[[2]uint64]bool // one-way: from -> to blocked
	sent     int
	snapshot int
}

func newTestNet() *testNet {
	return &testNet{nodes: map[uint64]*testTransport{}, cut: map[[2]uint64]bool{}}
}

func (n *testNet) transport(id uint64) *testTransport {
	t := &testTransport{net: n, id: id, inbox: make(chan []*raftpb.Message, 256), stop: make(chan struct{})}
	n.mu.Lock()
	n.nodes[id] = t
	n.mu.Unlock()
	return t
}

func (n *testNet) blocked(from, to uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[[2]uint64{from, to}]
}

// partition cuts every link between the groups, both ways.
func (n *testNet) partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					n.cut[[2]uint64{x, y}] = true
				}
			}
		}
	}
}

func (n *testNet) heal() {
	n.mu.Lock()
	n.cut = map[[2]uint64]bool{}
	n.mu.Unlock()
}

type testTransport struct {
	net     *testNet
	id      uint64
	inbox   chan []*raftpb.Message
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	handler Handler
}

func (t *testTransport) Start(h Handler) error {
	t.handler = h
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

func (t *testTransport) Send(msgs []*raftpb.Message) {
	byTo := map[uint64][]*raftpb.Message{}
	for _, m := range msgs {
		byTo[m.GetTo()] = append(byTo[m.GetTo()], proto.Clone(m).(*raftpb.Message))
	}
	for to, ms := range byTo {
		if t.net.blocked(t.id, to) {
			continue
		}
		t.net.mu.Lock()
		dst := t.net.nodes[to]
		t.net.sent += len(ms)
		t.net.mu.Unlock()
		if dst == nil {
			continue
		}
		select {
		case dst.inbox <- ms:
		default:
		}
	}
}

func (t *testTransport) SendSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error {
	to := m.GetTo()
	if t.net.blocked(t.id, to) {
		return fmt.Errorf("partitioned")
	}
	t.net.mu.Lock()
	dst := t.net.nodes[to]
	t.net.snapshot++
	t.net.mu.Unlock()
	if dst == nil || dst.handler == nil {
		return fmt.Errorf("unknown peer %d", to)
	}
	return dst.handler.HandleSnapshot(ctx, proto.Clone(m).(*raftpb.Message), body)
}

func (t *testTransport) AddPeer(Peer) error { return nil }
func (t *testTransport) RemovePeer(uint64)  {}
func (t *testTransport) Close() error {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	return nil
}

// --- a key-value state machine -------------------------------------------------

type kvCmd struct {
	Op    string `json:"op"` // put, del, add
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	N     int64  `json:"n,omitempty"`
}

type kvResult struct {
	Index uint64
	Prev  string
}

type kvSM struct {
	data map[string]string
	sums map[string]int64
}

func newKV() *kvSM { return &kvSM{data: map[string]string{}, sums: map[string]int64{}} }

func (s *kvSM) Apply(index uint64, c kvCmd) kvResult {
	prev := s.data[c.Key]
	switch c.Op {
	case "put":
		s.data[c.Key] = c.Value
	case "del":
		delete(s.data, c.Key)
	case "add":
		s.sums[c.Key] += c.N
	}
	return kvResult{Index: index, Prev: prev}
}

func (s *kvSM) Snapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if err := json.NewEncoder(bw).Encode([]any{s.data, s.sums}); err != nil {
		return err
	}
	return bw.Flush()
}

func (s *kvSM) Restore(r io.Reader) error {
	var v struct{}
	_ = v
	var pair [2]json.RawMessage
	if err := json.NewDecoder(r).Decode(&pair); err != nil {
		return err
	}
	data, sums := map[string]string{}, map[string]int64{}
	if err := json.Unmarshal(pair[0], &data); err != nil {
		return err
	}
	if err := json.Unmarshal(pair[1], &sums); err != nil {
		return err
	}
	s.data, s.sums = data, sums
	return nil
}

type jsonCodec[C any] struct{}

func (jsonCodec[C]) Encode(c C) ([]byte, error) { return json.Marshal(c) }
func (jsonCodec[C]) Decode(b []byte) (C, error) {
	var c C
	err := json.Unmarshal(b, &c)
	return c, err
}

// --- cluster harness -------------------------------------------------------------

type testNode struct {
	*Node[kvCmd, kvResult]
	sm *kvSM
	ls *MemoryLogStore
	ss *MemorySnapshotStore
}

type cluster struct {
	t     *testing.T
	net   *testNet
	peers []Peer
	nodes map[uint64]*testNode
	mod   func(*Config)
}

func newCluster(t *testing.T, n int, mod func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, net: newTestNet(), nodes: map[uint64]*testNode{}, mod: mod}
	for i := 1; i <= n; i++ {
		c.peers = append(c.peers, Peer{ID: uint64(i), Addr: fmt.Sprintf("node-%d", i)})
	}
	for _, p := range c.peers {
		c.start(p.ID, NewMemoryLogStore(), NewMemorySnapshotStore(), false)
	}
	t.Cleanup(c.closeAll)
	return c
}

func (c *cluster) start(id uint64, ls *MemoryLogStore, ss *MemorySnapshotStore, join bool) *testNode {
	c.t.Helper()
	cfg := Config{NodeID: id, Peers: c.peers, Join: join, Preset: Testing, Transport: c.net.transport(id), LogStore: ls, SnapshotStore: ss}
	if c.mod != nil {
		c.mod(&cfg)
	}
	sm := newKV()
	n, err := Start[kvCmd, kvResult](context.Background(), cfg, sm, jsonCodec[kvCmd]{})
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	tn := &testNode{Node: n, sm: sm, ls: ls, ss: ss}
	c.nodes[id] = tn
	return tn
}

// crash stops a node without any graceful step; its stores survive.
func (c *cluster) crash(id uint64) *testNode {
	n := c.nodes[id]
	n.crash()
	_ = n.cfg.Transport.Close()
	delete(c.nodes, id)
	return n
}

func (c *cluster) restart(old *testNode) *testNode {
	return c.start(old.ID(), old.ls, old.ss, false)
}

func (c *cluster) closeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids := make([]uint64, 0, len(c.nodes))
	for id := range c.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		_ = c.nodes[id].Close(ctx)
		delete(c.nodes, id)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until all listed (or all running) nodes agree on one leader.
func (c *cluster) leader(ids ...uint64) *testNode {
	c.t.Helper()
	if len(ids) == 0 {
		for id := range c.nodes {
			ids = append(ids, id)
		}
	}
	var lead uint64
	waitFor(c.t, "a leader", 10*time.Second, func() bool {
		lead = 0
		for _, id := range ids {
			l := c.nodes[id].Leader()
			if l == 0 || (lead != 0 && l != lead) {
				return false
			}
			lead = l
		}
		n, ok := c.nodes[lead]
		return ok && n.IsLeader()
	})
	return c.nodes[lead]
}

func (c *cluster) follower() *testNode {
	lead := c.leader()
	for _, n := range c.nodes {
		if n.ID() != lead.ID() {
			return n
		}
	}
	return nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (n *testNode) get(key string) (string, bool) {
	var v string
	var ok bool
	_ = n.ReadStale(func() error { v, ok = n.sm.data[key]; return nil })
	return v, ok
}
