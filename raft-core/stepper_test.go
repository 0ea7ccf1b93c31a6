package raftcore_test

import (
	"context"
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
