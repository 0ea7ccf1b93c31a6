package raftcore_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

// recordingHandler keeps every log record.
type recordingHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r)
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestRepeatedAppendResponseIsNotLoggedAsInfo drives a leader through the
// pipelined append that makes raft answer the same entry twice: the leader's
// append of a new entry is still being written when the followers'
// acknowledgements commit it, so the next Ready (saving the commit index)
// carries the same (index, term) for raft to mark stable. raft ignores the
// second and says "entry at index N missing from unstable log"; that is
// routine with AsyncStorageWrites and must not be logged at Info.
func TestRepeatedAppendResponseIsNotLoggedAsInfo(t *testing.T) {
	var mu sync.Mutex
	var records []slog.Record
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	nodes := map[uint64]*raftcore.Stepper[clustertest.KVCommand, clustertest.KVResult]{}
	for _, p := range peers {
		s, err := raftcore.NewStepper(raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Testing, Transport: stepTransport{},
			LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
			Logger: slog.New(recordingHandler{&mu, &records}),
		}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{}, p.ID<<20|p.ID)
		if err != nil {
			t.Fatal(err)
		}
		nodes[p.ID] = s
	}
	// run does every node's storage work at once and delivers every message,
	// except node leader's persists, which it adds to held.
	var held []*raftpb.Message
	run := func(leader uint64) {
		for range 100 {
			var msgs []*raftpb.Message
			for _, id := range []uint64{1, 2, 3} {
				s := nodes[id]
				out := s.Ready()
				msgs = append(msgs, out.Messages...)
				persist := out.Persist
				if id == leader {
					held = append(held, persist...)
					persist = nil
				}
				if len(persist) > 0 {
					resps, err := s.Persist(persist)
					if err != nil {
						t.Fatal(err)
					}
					msgs = append(msgs, resps...)
				}
				for _, m := range out.Apply {
					resps, err := s.Apply(m)
					if err != nil {
						t.Fatal(err)
					}
					msgs = append(msgs, resps...)
				}
			}
			if len(msgs) == 0 {
				return
			}
			for _, m := range msgs {
				nodes[m.GetTo()].Step(m)
			}
		}
		t.Fatal("the cluster did not settle")
	}
	for tick := 0; nodes[1].Leader() == 0 && tick < 1000; tick++ {
		nodes[1].Tick()
		run(0)
	}
	leader := nodes[1].Leader()
	if leader == 0 {
		t.Fatal("no leader")
	}
	mu.Lock()
	records = nil
	mu.Unlock()
	nodes[leader].Propose(clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}, func(clustertest.KVResult, uint64, error) {})
	run(leader) // the followers append and acknowledge; the leader's append is held
	if len(held) < 2 {
		t.Fatalf("the leader's append was not followed by another Ready while held (%d persists)", len(held))
	}
	resps, err := nodes[leader].Persist(held)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resps {
		nodes[m.GetTo()].Step(m)
	}
	run(0)

	mu.Lock()
	defer mu.Unlock()
	seen := false
	for _, r := range records {
		if !strings.Contains(r.Message, "missing from unstable log") {
			continue
		}
		seen = true
		if r.Level >= slog.LevelInfo {
			t.Errorf("logged at %v: %s", r.Level, r.Message)
		}
	}
	if !seen {
		t.Fatal("raft did not report the repeated append response: the scenario no longer reproduces it (did raft change?)")
	}
}
