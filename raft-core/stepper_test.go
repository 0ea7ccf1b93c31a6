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

// TestStepperDrivesAClusterByHand runs three engines in one goroutine,
// delivering every message and doing all storage work synchronously.
func TestStepperDrivesAClusterByHand(t *testing.T) {
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	nodes := map[uint64]*raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]{}
	kvs := map[uint64]*clustertest.KV{}
	for _, p := range peers {
		kv := clustertest.NewKV()
		s, err := raftcore.NewStepper(raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Testing, Transport: stepTransport{},
			LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, kv, clustertest.JSONCodec[clustertest.KVCommand]{}, p.ID<<32)
		if err != nil {
			t.Fatal(err)
		}
		nodes[p.ID], kvs[p.ID] = s, kv
	}
	var inflight []*raftpb.Message
	settle := func() {
		for range 1000 {
			progress := false
			for _, id := range []uint64{1, 2, 3} {
				s := nodes[id]
				out := s.Ready()
				inflight = append(inflight, out.Messages...)
				if len(out.Persist) > 0 {
					resps, err := s.Persist(out.Persist)
					if err != nil {
						t.Fatal(err)
					}
					inflight = append(inflight, resps...)
				}
				for _, m := range out.Apply {
					resps, err := s.Apply(m)
					if err != nil {
						t.Fatal(err)
					}
					inflight = append(inflight, resps...)
				}
				progress = progress || len(out.Messages)+len(out.Persist)+len(out.Apply) > 0
			}
			msgs := inflight
			inflight = nil
			for _, m := range msgs {
				nodes[m.GetTo()].Step(m)
				progress = true
			}
			if !progress {
				return
			}
		}
	}
	for tick := 0; nodes[1].Leader() == 0 && tick < 1000; tick++ {
		nodes[1].Tick()
		settle()
	}
	if nodes[1].Leader() == 0 {
		t.Fatal("no leader after 1000 ticks")
	}
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
