package raftcore_test

import (
	"context"
	"errors"
	"io"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

// stepTransport is the Transport a Stepper is given: it only hears about peers.
type stepTransport struct{}

func (stepTransport) Start(raftcore.Handler) error { return nil }
func (stepTransport) Send([]*raftpb.Message)       {}
func (stepTransport) AddPeer(raftcore.Peer) error  { return nil }
func (stepTransport) RemovePeer(uint64)            {}
func (stepTransport) Close() error                 { return nil }
func (stepTransport) SendSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return nil
}

type stepperCluster struct {
	t        *testing.T
	nodes    map[uint64]*raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]
	kvs      map[uint64]*clustertest.KV
	inflight []*raftpb.Message
	// delivered counts the network messages delivered, by type.
	delivered map[raftpb.MessageType]int
}

// newStepperCluster starts three engines driven by hand in one goroutine,
// every message delivered and all storage work done synchronously, and
// waits for a leader.
func newStepperCluster(t *testing.T) *stepperCluster {
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	c := &stepperCluster{
		t:         t,
		nodes:     map[uint64]*raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]{},
		kvs:       map[uint64]*clustertest.KV{},
		delivered: map[raftpb.MessageType]int{},
	}
	for _, p := range peers {
		kv := clustertest.NewKV()
		s, err := raftcore.NewStepper(raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Testing, Transport: stepTransport{},
			LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, kv, clustertest.JSONCodec[clustertest.KVCommand]{}, p.ID<<32)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[p.ID], c.kvs[p.ID] = s, kv
	}
	for tick := 0; c.nodes[1].Leader() == 0 && tick < 1000; tick++ {
		c.nodes[1].Tick()
		c.settle()
	}
	if c.nodes[1].Leader() == 0 {
		t.Fatal("no leader after 1000 ticks")
	}
	return c
}

// ready collects every node's output, doing its storage work at once.
func (c *stepperCluster) ready() bool {
	progress := false
	for _, id := range []uint64{1, 2, 3} {
		s := c.nodes[id]
		out := s.Ready()
		c.inflight = append(c.inflight, out.Messages...)
		if len(out.Persist) > 0 {
			resps, err := s.Persist(out.Persist)
			if err != nil {
				c.t.Fatal(err)
			}
			c.inflight = append(c.inflight, resps...)
		}
		for _, m := range out.Apply {
			resps, err := s.Apply(m)
			if err != nil {
				c.t.Fatal(err)
			}
			c.inflight = append(c.inflight, resps...)
		}
		progress = progress || len(out.Messages)+len(out.Persist)+len(out.Apply) > 0
	}
	return progress
}

// settle runs the cluster until nothing moves.
func (c *stepperCluster) settle() {
	for range 1000 {
		progress := c.ready()
		msgs := c.inflight
		c.inflight = nil
		for _, m := range msgs {
			c.delivered[m.GetType()]++
			c.nodes[m.GetTo()].Step(m)
			progress = true
		}
		if !progress {
			return
		}
	}
}

// TestStepperDrivesAClusterByHand runs three engines in one goroutine,
// delivering every message and doing all storage work synchronously.
func TestStepperDrivesAClusterByHand(t *testing.T) {
	c := newStepperCluster(t)
	nodes, kvs, settle := c.nodes, c.kvs, c.settle
	var got clustertest.KVResult
	var gotErr error
	called := false
	nodes[2].Propose(clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}, func(r clustertest.KVResult, _ uint64, err error) {
		got, gotErr, called = r, err, true
	})
	settle()
	if !called || gotErr != nil || got.Index == 0 {
		t.Fatalf("proposal callback: called=%v result=%+v err=%v", called, got, gotErr)
	}
	for id, kv := range kvs {
		if kv.Data["k"] != "v" {
			t.Fatalf("node %d did not apply the put", id)
		}
	}
	readIdx := uint64(0)
	nodes[3].ReadIndex(func(index uint64, err error) { readIdx = index })
	settle()
	if readIdx < got.Index {
		t.Fatalf("read index %d below the acknowledged write %d", readIdx, got.Index)
	}
}

// TestReadsArrivingDuringARoundShareTheNext checks that reads asked for
// while a read index round is in flight wait for it and then go together in
// one more round, instead of a heartbeat round each.
func TestReadsArrivingDuringARoundShareTheNext(t *testing.T) {
	c := newStepperCluster(t)
	leader := c.nodes[c.nodes[1].Leader()]
	clear(c.delivered)
	done := 0
	read := func() {
		leader.ReadIndex(func(index uint64, err error) {
			if err != nil {
				t.Errorf("read: %v", err)
			}
			done++
		})
	}
	read()
	c.ready() // the first round's heartbeats are now in flight
	for range 5 {
		read()
	}
	c.settle()
	if done != 6 {
		t.Fatalf("%d of 6 reads done", done)
	}
	// Two rounds, each a heartbeat to both followers.
	if got := c.delivered[raftpb.MsgHeartbeat]; got != 4 {
		t.Fatalf("%d heartbeats for 6 reads asked during one round; want 4 (two rounds)", got)
	}
}

// unreadableLog fails every read of the log (Entries, Term, FirstIndex,
// LastIndex) with err, or panics with panicValue, once either is set.
type unreadableLog struct {
	raftcore.LogStore
	err        error
	panicValue any
}

func (u *unreadableLog) read() error {
	if u.panicValue != nil {
		panic(u.panicValue)
	}
	return u.err
}

func (u *unreadableLog) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if err := u.read(); err != nil {
		return nil, err
	}
	return u.LogStore.Entries(lo, hi, maxSize)
}

func (u *unreadableLog) Term(i uint64) (uint64, error) {
	if err := u.read(); err != nil {
		return 0, err
	}
	return u.LogStore.Term(i)
}

func (u *unreadableLog) FirstIndex() (uint64, error) {
	if err := u.read(); err != nil {
		return 0, err
	}
	return u.LogStore.FirstIndex()
}

func (u *unreadableLog) LastIndex() (uint64, error) {
	if err := u.read(); err != nil {
		return 0, err
	}
	return u.LogStore.LastIndex()
}

// settleAlone drives a single-node Stepper until it has nothing more to do.
func settleAlone(t *testing.T, s *raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]) {
	t.Helper()
	for range 1000 {
		out := s.Ready()
		if len(out.Persist)+len(out.Apply) == 0 {
			return
		}
		var resps []*raftpb.Message
		if len(out.Persist) > 0 {
			r, err := s.Persist(out.Persist)
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, r...)
		}
		for _, m := range out.Apply {
			r, err := s.Apply(m)
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, r...)
		}
		for _, m := range resps {
			s.Step(m)
		}
	}
	t.Fatal("the node never settled")
}

// newLoneLeader starts a single-node cluster on log, with fault injected
// unless it is empty, and waits for it to lead.
func newLoneLeader(t *testing.T, log raftcore.LogStore, fault raftcore.EngineFault) *raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult] {
	t.Helper()
	s, err := raftcore.NewStepper(raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{{ID: 1}}, Preset: raftcore.Testing, Transport: stepTransport{},
		LogStore: log, SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{}, 1<<32)
	if err != nil {
		t.Fatal(err)
	}
	if fault != "" {
		if err := s.InjectFault(fault); err != nil {
			t.Fatal(err)
		}
	}
	for tick := 0; s.Leader() == 0 && tick < 1000; tick++ {
		s.Tick()
		settleAlone(t, s)
	}
	if s.Leader() != 1 {
		t.Fatal("the single node never led")
	}
	return s
}

// A Stepper whose LogStore fails a read stops as a Node does, instead of
// letting raft's panic through: Err wraps ErrStopped and the store's error,
// the waiting proposal fails with it, and the Stepper does nothing more.
// With FaultReadPanic (the engine before it stopped on a failed read) the
// panic escapes; a panic that is not raft's answer to a failed read always
// does.
func TestStepperStopsWhenALogReadFails(t *testing.T) {
	tests := []struct {
		name       string
		fault      raftcore.EngineFault
		panicValue any
		wantPanic  any
	}{
		{name: "the read fails"},
		{name: "the read fails with FaultReadPanic", fault: raftcore.FaultReadPanic, wantPanic: errReadFailed},
		{name: "the store panics", panicValue: "store bug", wantPanic: "store bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &unreadableLog{LogStore: raftcore.NewMemoryLogStore()}
			s := newLoneLeader(t, log, tt.fault)
			put := clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}
			s.Propose(put, func(_ clustertest.KVResult, _ uint64, err error) {
				if err != nil {
					t.Fatalf("first proposal: %v", err)
				}
			})
			settleAlone(t, s)

			log.err, log.panicValue = errReadFailed, tt.panicValue
			var proposeErr error
			panicked := func() (p any) {
				defer func() { p = recover() }()
				s.Propose(put, func(_ clustertest.KVResult, _ uint64, err error) { proposeErr = err })
				settleAlone(t, s)
				return nil
			}()
			if tt.wantPanic != nil {
				if panicked != tt.wantPanic {
					t.Fatalf("panicked with %v, want %v", panicked, tt.wantPanic)
				}
				return
			}
			if panicked != nil {
				t.Fatalf("a failed read panicked: %v", panicked)
			}
			stopErr := s.Err()
			if !errors.Is(stopErr, raftcore.ErrStopped) || !errors.Is(stopErr, errReadFailed) {
				t.Fatalf("Err() = %v, want ErrStopped wrapping the read error", stopErr)
			}
			if proposeErr != stopErr {
				t.Fatalf("the waiting proposal failed with %v, want %v", proposeErr, stopErr)
			}

			// Stopped: later calls neither drive raft nor panic.
			log.err = nil
			s.Tick()
			if out := s.Ready(); len(out.Messages)+len(out.Persist)+len(out.Apply) > 0 {
				t.Fatalf("a stopped Stepper produced work: %+v", out)
			}
			var again error
			s.Propose(put, func(_ clustertest.KVResult, _ uint64, err error) { again = err })
			if again != stopErr {
				t.Fatalf("a proposal to a stopped Stepper: %v, want %v", again, stopErr)
			}
			if _, err := s.Persist(nil); err != stopErr {
				t.Fatalf("Persist on a stopped Stepper: %v, want %v", err, stopErr)
			}
			if s.Pending() != 0 {
				t.Fatalf("%d calls still wait on a stopped Stepper", s.Pending())
			}
		})
	}
}

// A read of the log that fails while raft takes in a membership change
// (raft then sends the new member its first append) fails Apply with an
// error wrapping the store's, not as a change raft refused.
func TestApplyingAMembershipChangeReportsALogReadFailure(t *testing.T) {
	log := &unreadableLog{LogStore: raftcore.NewMemoryLogStore()}
	s := newLoneLeader(t, log, "")
	s.ProposeConfChange(raftpb.ConfChangeAddLearnerNode, raftcore.Peer{ID: 2}, func(uint64, error) {})
	var applyErr error
	for range 100 {
		out := s.Ready()
		if len(out.Persist) == 0 && len(out.Apply) == 0 {
			break
		}
		resps, err := s.Persist(out.Persist)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Apply {
			for _, ent := range m.GetEntries() {
				if ent.GetType() == raftpb.EntryConfChange {
					log.err = errReadFailed
				}
			}
			r, err := s.Apply(m)
			if err != nil {
				applyErr = err
				break
			}
			resps = append(resps, r...)
		}
		if applyErr != nil {
			break
		}
		for _, m := range resps {
			s.Step(m)
		}
	}
	var applyError *raftcore.ApplyError
	if !errors.As(applyErr, &applyError) || !errors.Is(applyErr, errReadFailed) {
		t.Fatalf("Apply of the membership change: %v, want an ApplyError wrapping the read error", applyErr)
	}
	t.Logf("Apply: %v", applyErr)
}
