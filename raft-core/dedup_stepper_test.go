package raftcore_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestLateCopyBeyondDedupWindowIsNotAppliedAgain delivers a copy of a
// proposal to the leader after more of its node's proposals have applied
// than the engine remembers (8,192), as a forwarded MsgProp that the network
// held back or duplicated would arrive. The copy must not apply again: the
// window of remembered ids used to forget the original by then.
func TestLateCopyBeyondDedupWindowIsNotAppliedAgain(t *testing.T) {
	counter := &clustertest.Counter{}
	s, err := raftcore.NewStepper(raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{{ID: 1}}, Preset: raftcore.Testing, Transport: stepTransport{},
		LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		DisableAutoSnapshot: true,
	}, counter, clustertest.RawCodec{}, 1<<20|1)
	if err != nil {
		t.Fatal(err)
	}
	var first *raftpb.Entry
	settle := func() {
		for range 100 {
			out := s.Ready()
			if len(out.Persist)+len(out.Apply)+len(out.Messages) == 0 {
				return
			}
			for _, m := range out.Persist {
				for _, ent := range m.GetEntries() {
					if first == nil && ent.GetType() == raftpb.EntryNormal && len(ent.GetData()) > 0 {
						first = proto.Clone(ent).(*raftpb.Entry)
					}
				}
			}
			resps, err := s.Persist(out.Persist)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Apply {
				more, err := s.Apply(m)
				if err != nil {
					t.Fatal(err)
				}
				resps = append(resps, more...)
			}
			for _, m := range resps {
				s.Step(m)
			}
		}
		t.Fatal("the node did not settle")
	}
	for range 100 {
		if s.Leader() != 0 {
			break
		}
		s.Tick()
		settle()
	}
	if s.Leader() != 1 {
		t.Fatal("no leader")
	}
	const proposals = 8192 + 100
	applied := 0
	for i := range proposals {
		s.Propose([]byte{byte(i)}, func(_ uint64, _ uint64, err error) {
			if err != nil {
				t.Errorf("proposal %d: %v", i, err)
			}
			applied++
		})
		if i%256 == 255 {
			settle()
		}
	}
	settle()
	if applied != proposals || counter.N != proposals || first == nil {
		t.Fatalf("%d proposals acknowledged, %d applied; want %d", applied, counter.N, proposals)
	}
	// The held-back copy of the first proposal reaches the leader now.
	s.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(uint64(1)), To: new(uint64(1)), Entries: []*raftpb.Entry{{Data: first.GetData()}}})
	settle()
	if counter.N != proposals {
		t.Fatalf("the late copy of the first proposal was applied again: %d applies for %d proposals", counter.N, proposals)
	}
}
