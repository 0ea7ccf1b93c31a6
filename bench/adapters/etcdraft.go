package adapters

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The bare etcd-raft loop is the ceiling the engine is measured against: one
// goroutine per node drives a RawNode over MemoryStorage, appends each
// Ready's entries and hard state to a plain log file with one fdatasync, sends
// marshalled messages over channels, and applies. No pipelining of the fsync
// with replication, no flow control beyond raft's own, snapshots travel
// inline in one message.
const etcdTuning = "RawNode with MemoryStorage, tick 100ms, HeartbeatTick 1, ElectionTick 10, " +
	"CheckQuorum and PreVote, MaxSizePerMsg 1 MiB, MaxInflightMsgs 256, MaxUncommittedEntriesSize 64 MiB; " +
	"synchronous Ready loop: WAL append + one fdatasync per Ready, then send, then apply; " +
	"channel transport of proto-marshalled messages (inboxes of 4096, drop when full); " +
	"log compacted every 8192 applied entries keeping 4096"

func etcdSystem(durable bool) harness.System {
	name := "etcd-raft/chan+memory"
	if durable {
		name = harness.HeadlineEtcd
	}
	return harness.System{
		Name:    name,
		Family:  harness.FamilyEtcd,
		Durable: durable,
		Tuning:  etcdTuning,
		Start: func(ctx context.Context, spec harness.ClusterSpec) (harness.Cluster, error) {
			return startEtcd(ctx, spec, durable)
		},
	}
}

const (
	etcdInboxSize      = 4096
	etcdCompactEvery   = 8192
	etcdTrailing       = 4096
	etcdMaxBatch       = 1024
	etcdProposalHeader = 16
)

type etcdProposal struct {
	data []byte
	done chan error
}

type etcdRead struct {
	rctx  []byte
	index uint64
	done  chan error
}

type etcdNode struct {
	id      uint64
	cluster *etcdCluster
	machine *Machine
	storage *raft.MemoryStorage
	rn      *raft.RawNode
	wal     *os.File
	confSt  *pb.ConfState

	inbox chan []byte
	propc chan *etcdProposal
	readc chan *etcdRead
	stopc chan struct{}
	donec chan struct{}

	leader   atomic.Bool
	applied  atomic.Uint64
	seq      atomic.Uint64
	snapReq  chan chan error
	mu       sync.Mutex
	waiters  map[uint64]chan error
	reads    map[string]*etcdRead
	ready    []*etcdRead // reads with a known index, waiting for apply
	walBuf   []byte
	lastComp uint64
}

type etcdCluster struct {
	spec    harness.ClusterSpec
	durable bool
	mu      sync.Mutex
	nodes   []*etcdNode // nil when not running
	target  uint64
}

func startEtcd(ctx context.Context, spec harness.ClusterSpec, durable bool) (*etcdCluster, error) {
	c := &etcdCluster{spec: spec, durable: durable, nodes: make([]*etcdNode, spec.Nodes)}
	n := spec.Nodes
	if spec.HoldBack {
		n--
	}
	for i := range n {
		if err := c.startNode(uint64(i + 1)); err != nil {
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

var quietRaftLogger = &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

func (c *etcdCluster) startNode(id uint64) error {
	var voters []uint64
	for i := range c.spec.Nodes {
		voters = append(voters, uint64(i+1))
	}
	n := &etcdNode{
		id: id, cluster: c, machine: NewMachine(c.spec.KeepData), storage: raft.NewMemoryStorage(),
		confSt: &pb.ConfState{Voters: voters},
		inbox:  make(chan []byte, etcdInboxSize), propc: make(chan *etcdProposal, etcdMaxBatch),
		readc: make(chan *etcdRead, etcdMaxBatch), stopc: make(chan struct{}), donec: make(chan struct{}),
		snapReq: make(chan chan error), waiters: map[uint64]chan error{}, reads: map[string]*etcdRead{},
	}
	if err := n.storage.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: n.confSt}}); err != nil {
		return err
	}
	readOnly := raft.ReadOnlySafe
	if c.spec.LeaseReads {
		readOnly = raft.ReadOnlyLeaseBased
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: id, ElectionTick: int(harness.ElectionTimeout / harness.HeartbeatInterval), HeartbeatTick: 1,
		Storage: n.storage, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		MaxUncommittedEntriesSize: 64 << 20, CheckQuorum: true, PreVote: true,
		ReadOnlyOption: readOnly, Logger: quietRaftLogger,
	})
	if err != nil {
		return fmt.Errorf("bench: etcd raft node: %w", err)
	}
	n.rn = rn
	if c.durable {
		dir := filepath.Join(c.spec.Dir, fmt.Sprintf("node%d", id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if n.wal, err = os.OpenFile(filepath.Join(dir, "wal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.nodes[id-1] = n
	c.mu.Unlock()
	go n.run()
	return nil
}

func (c *etcdCluster) node(id uint64) *etcdNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == 0 || id > uint64(len(c.nodes)) {
		return nil
	}
	return c.nodes[id-1]
}

// send delivers marshalled messages without blocking; a full inbox drops
// the message, which raft retransmits.
func (c *etcdCluster) send(msgs []*pb.Message) {
	for _, m := range msgs {
		to := c.node(m.GetTo())
		if to == nil {
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			continue
		}
		select {
		case to.inbox <- b:
		default:
		}
	}
}

func (n *etcdNode) run() {
	defer close(n.donec)
	ticker := time.NewTicker(harness.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.stopc:
			n.failWaiters(harness.ErrNoLeader)
			return
		case <-ticker.C:
			n.rn.Tick()
		case b := <-n.inbox:
			n.step(b)
			for range etcdMaxBatch {
				select {
				case b := <-n.inbox:
					n.step(b)
					continue
				default:
				}
				break
			}
		case p := <-n.propc:
			n.propose(p)
			for range etcdMaxBatch {
				select {
				case p := <-n.propc:
					n.propose(p)
					continue
				default:
				}
				break
			}
		case r := <-n.readc:
			n.mu.Lock()
			n.reads[string(r.rctx)] = r
			n.mu.Unlock()
			n.rn.ReadIndex(r.rctx)
		case reply := <-n.snapReq:
			reply <- n.snapshot(1)
		}
		for n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				n.failWaiters(err)
				return
			}
		}
	}
}

func (n *etcdNode) step(b []byte) {
	var m pb.Message
	if err := proto.Unmarshal(b, &m); err != nil {
		return
	}
	_ = n.rn.Step(&m)
}

func (n *etcdNode) propose(p *etcdProposal) {
	if err := n.rn.Propose(p.data); err != nil {
		id := binary.BigEndian.Uint64(p.data[8:16])
		n.mu.Lock()
		delete(n.waiters, id)
		n.mu.Unlock()
		p.done <- err
	}
}

func (n *etcdNode) handleReady() error {
	rd := n.rn.Ready()
	if err := n.persist(rd); err != nil {
		return err
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
		if err := n.machine.Restore(bytes.NewReader(rd.Snapshot.GetData())); err != nil {
			return err
		}
		n.confSt = rd.Snapshot.GetMetadata().GetConfState()
		n.applied.Store(rd.Snapshot.GetMetadata().GetIndex())
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	n.cluster.send(rd.Messages)
	if rd.SoftState != nil {
		n.leader.Store(rd.SoftState.RaftState == raft.StateLeader)
	}
	n.mu.Lock()
	for _, rs := range rd.ReadStates {
		if r, ok := n.reads[string(rs.RequestCtx)]; ok {
			delete(n.reads, string(rs.RequestCtx))
			r.index = rs.Index
			n.ready = append(n.ready, r)
		}
	}
	n.mu.Unlock()
	for _, e := range rd.CommittedEntries {
		n.applyEntry(e)
	}
	n.answerReads()
	n.rn.Advance(rd)
	if !n.cluster.spec.KeepData && n.applied.Load()-n.lastComp >= etcdCompactEvery {
		return n.snapshot(etcdTrailing)
	}
	return nil
}

// persist appends the Ready's snapshot, entries and hard state to the log
// file as length-prefixed records, with one fdatasync when raft requires it.
func (n *etcdNode) persist(rd raft.Ready) error {
	if n.wal == nil {
		return nil
	}
	buf := n.walBuf[:0]
	appendRecord := func(m proto.Message) error {
		b, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
		return nil
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := appendRecord(rd.Snapshot); err != nil {
			return err
		}
	}
	for _, e := range rd.Entries {
		if err := appendRecord(e); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := appendRecord(rd.HardState); err != nil {
			return err
		}
	}
	if len(buf) == 0 {
		return nil
	}
	if cap(buf) <= 4<<20 {
		n.walBuf = buf
	}
	if _, err := n.wal.Write(buf); err != nil {
		return err
	}
	if rd.MustSync {
		return syscall.Fdatasync(int(n.wal.Fd()))
	}
	return nil
}

func (n *etcdNode) applyEntry(e *pb.Entry) {
	switch e.GetType() {
	case pb.EntryNormal:
		data := e.GetData()
		if len(data) >= etcdProposalHeader {
			n.machine.Apply(e.GetIndex(), data[etcdProposalHeader:])
			if binary.BigEndian.Uint64(data[:8]) == n.id {
				id := binary.BigEndian.Uint64(data[8:16])
				n.mu.Lock()
				done := n.waiters[id]
				delete(n.waiters, id)
				n.mu.Unlock()
				if done != nil {
					done <- nil
				}
			}
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err == nil {
			n.confSt = n.rn.ApplyConfChange(&cc)
		}
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err == nil {
			n.confSt = n.rn.ApplyConfChange(&cc)
		}
	}
	n.applied.Store(e.GetIndex())
}

func (n *etcdNode) answerReads() {
	applied := n.applied.Load()
	n.mu.Lock()
	kept := n.ready[:0]
	for _, r := range n.ready {
		if r.index <= applied {
			r.done <- nil
		} else {
			kept = append(kept, r)
		}
	}
	n.ready = kept
	n.mu.Unlock()
}

// snapshot records the machine's state at the applied index in the storage
// and compacts the log, keeping trailing entries behind it.
func (n *etcdNode) snapshot(trailing uint64) error {
	applied := n.applied.Load()
	var buf bytes.Buffer
	if err := n.machine.Snapshot(&buf); err != nil {
		return err
	}
	if _, err := n.storage.CreateSnapshot(applied, n.confSt, buf.Bytes()); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return err
	}
	n.lastComp = applied
	if applied > trailing {
		if err := n.storage.Compact(applied - trailing); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	return nil
}

func (n *etcdNode) failWaiters(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, done := range n.waiters {
		done <- err
		delete(n.waiters, id)
	}
	for k, r := range n.reads {
		r.done <- err
		delete(n.reads, k)
	}
	for _, r := range n.ready {
		r.done <- err
	}
	n.ready = nil
}

func (n *etcdNode) stop() error {
	close(n.stopc)
	<-n.donec
	if n.wal != nil {
		return n.wal.Close()
	}
	return nil
}

func (c *etcdCluster) leader() *etcdNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n != nil && n.leader.Load() {
			return n
		}
	}
	return nil
}

func (c *etcdCluster) Write(ctx context.Context, cmd []byte) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	id := l.seq.Add(1)
	data := make([]byte, etcdProposalHeader+len(cmd))
	binary.BigEndian.PutUint64(data[:8], l.id)
	binary.BigEndian.PutUint64(data[8:16], id)
	copy(data[etcdProposalHeader:], cmd)
	done := make(chan error, 1)
	l.mu.Lock()
	l.waiters[id] = done
	l.mu.Unlock()
	forget := func() {
		l.mu.Lock()
		delete(l.waiters, id)
		l.mu.Unlock()
	}
	select {
	case l.propc <- &etcdProposal{data: data, done: done}:
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-l.donec:
		forget()
		return harness.ErrNoLeader
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-l.donec:
		return harness.ErrNoLeader
	}
}

func (c *etcdCluster) Read(ctx context.Context, kind harness.ReadKind) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	switch kind {
	case harness.ReadIndex, harness.ReadLease:
		if (kind == harness.ReadLease) != c.spec.LeaseReads {
			return fmt.Errorf("%w: cluster started with LeaseReads=%v", harness.ErrUnsupported, c.spec.LeaseReads)
		}
		r := &etcdRead{rctx: binary.BigEndian.AppendUint64(nil, l.seq.Add(1)), done: make(chan error, 1)}
		select {
		case l.readc <- r:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.donec:
			return harness.ErrNoLeader
		}
		select {
		case err := <-r.done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			// The request stays in the node's table until the node stops:
			// bounded by the reads a benchmark abandons, a handful.
			return ctx.Err()
		case <-l.donec:
			return harness.ErrNoLeader
		}
		l.machine.read()
		return nil
	case harness.ReadStale:
		l.machine.read()
		return nil
	}
	return fmt.Errorf("%w: read kind %q", harness.ErrUnsupported, kind)
}

func (c *etcdCluster) WaitLeader(ctx context.Context) error {
	return harness.WaitFor(ctx, func() bool { return c.leader() != nil })
}

func (c *etcdCluster) KillLeader(ctx context.Context) error {
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.mu.Lock()
	c.nodes[l.id-1] = nil
	c.mu.Unlock()
	return l.stop()
}

func (c *etcdCluster) Snapshot(ctx context.Context) error {
	c.mu.Lock()
	var running []*etcdNode
	for _, n := range c.nodes {
		if n != nil {
			running = append(running, n)
		}
	}
	c.mu.Unlock()
	for _, n := range running {
		reply := make(chan error, 1)
		select {
		case n.snapReq <- reply:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-reply:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *etcdCluster) StartHeldBack(ctx context.Context) error {
	if !c.spec.HoldBack {
		return fmt.Errorf("%w: cluster has no held-back node", harness.ErrInvalidConfig)
	}
	l := c.leader()
	if l == nil {
		return harness.ErrNoLeader
	}
	c.target = l.applied.Load()
	return c.startNode(uint64(c.spec.Nodes))
}

func (c *etcdCluster) WaitCaughtUp(ctx context.Context) error {
	n := c.node(uint64(c.spec.Nodes))
	if n == nil {
		return fmt.Errorf("%w: held-back node is not running", harness.ErrInvalidConfig)
	}
	return harness.WaitFor(ctx, func() bool { return n.applied.Load() >= c.target })
}

func (c *etcdCluster) Close() error {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*etcdNode, len(nodes))
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if n != nil {
			errs = append(errs, n.stop())
		}
	}
	return errors.Join(errs...)
}
