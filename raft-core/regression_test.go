package raftcore_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

// Each test here reproduces a bug the engine had. It runs once on the engine
// as it is and once with the bug put back (Stepper.InjectFault) where the bug
// can be injected, and checks that the second run shows the bug: the test
// can fail.

// TestSnapshotDoesNotLetAnOlderMembershipChangeReachRaft: node 3 has the
// change adding 4 as a learner committed but not applied when it is cut off;
// the leader promotes 4, snapshots and compacts; node 3 comes back and gets
// the snapshot while its applier is still behind. Raft's configuration must
// end as the snapshot's (4 a voter), not the snapshot's with the old change
// applied on top (4 a learner again).
func TestSnapshotDoesNotLetAnOlderMembershipChangeReachRaft(t *testing.T) {
	for _, fault := range []raftcore.EngineFault{"", raftcore.FaultReapplyMembership} {
		t.Run("fault="+string(fault), func(t *testing.T) {
			h := newHarness(t, []uint64{1, 2, 3}, fault, func(c *raftcore.Config) {
				c.DisableAutoSnapshot, c.TrailingLogEntries = true, 1
			})
			h.elect(1)
			h.add(4, true)
			n3 := h.nodes[3]
			n3.holdApply = true
			h.confChange(1, raftpb.ConfChangeAddLearnerNode, 4)
			if len(n3.applyQ) == 0 {
				t.Fatal("node 3 has no apply queued")
			}
			n3.cut = true
			h.confChange(1, raftpb.ConfChangeAddNode, 4)
			for i := range 5 {
				h.put(1, "k", string(rune('a'+i)))
			}
			if _, err := h.nodes[1].s.TakeSnapshot(); err != nil {
				t.Fatal(err)
			}
			// Node 3 returns: its log writer takes the snapshot only after
			// its applier has run, the order that exposed the bug.
			h.onSnapshot = func(m *raftpb.Message) {
				if m.GetTo() == 3 {
					n3.holdPersist = true
				}
			}
			n3.cut = false
			for range 50 {
				h.tick(1)
				if n3.s.RaftSnapshotIndex() > 0 {
					break
				}
			}
			t.Logf("raft snapshot index on node 3: %d, applied %d, apply queue %d, persist queue %d", n3.s.RaftSnapshotIndex(), n3.s.AppliedIndex(), len(n3.applyQ), len(n3.persistQ))
			n3.holdApply = false
			h.work(n3)
			h.settle()
			n3.holdPersist = false
			for range 20 {
				h.tick(1)
			}
			voters, learners := n3.s.RaftMembers()
			engineVoters, engineLearners := n3.s.Members()
			broken := !slices.Equal(voters, []uint64{1, 2, 3, 4}) || len(learners) != 0
			t.Logf("node 3: raft voters=%v learners=%v, engine voters=%v learners=%v", voters, learners, engineVoters, engineLearners)
			if fault == "" && broken {
				t.Fatalf("raft's configuration on node 3 is voters=%v learners=%v; want voters [1 2 3 4]", voters, learners)
			}
			if fault != "" && !broken {
				t.Fatal("with the fault injected, raft's configuration stayed right: the test cannot see the bug")
			}
		})
	}
}

// TestReadContextsDoNotRepeatAcrossRestarts: a follower's read index request
// is answered late, after the follower restarted and asked again; the late
// answer (at an index older than an acknowledged write) must not serve the
// new request.
func TestReadContextsDoNotRepeatAcrossRestarts(t *testing.T) {
	for _, fault := range []raftcore.EngineFault{"", raftcore.FaultReuseReadContexts} {
		t.Run("fault="+string(fault), func(t *testing.T) {
			h := newHarness(t, []uint64{1, 2, 3}, fault, nil)
			h.elect(1)
			h.put(1, "k", "old")
			late := h.holdReadAnswer(2)
			h.readIndex(2)
			h.settle()
			if late() == nil {
				t.Fatal("no read index answer captured")
			}
			h.intercept = nil
			written := h.put(1, "k", "new")
			h.restart(2)
			h.nodes[2].cut = true // the new round is still in flight
			read := h.readIndex(2)
			h.settle()
			if err := h.nodes[2].s.Deliver(late()); err != nil {
				t.Fatal(err)
			}
			h.nodes[2].cut = false
			index := h.awaitRead(read)
			stale := index < written
			if fault == "" && stale {
				t.Fatalf("read index %d is below the write acknowledged at %d", index, written)
			}
			if fault != "" && !stale {
				t.Fatalf("with the fault injected the read index is %d (write at %d): the test cannot see the bug", index, written)
			}
		})
	}
}

// TestReadContextsDoNotRepeatWhenTheClockWentBack: as above, but the
// restarted follower's epoch is one below its previous one, as when its
// clock went back into the millisecond of its previous start (the low bits
// of the two epochs differ). Its second round, numbered up from the epoch
// as the engine did, would repeat the late answer's request context.
func TestReadContextsDoNotRepeatWhenTheClockWentBack(t *testing.T) {
	h := newHarness(t, []uint64{1, 2, 3}, "", nil)
	h.elect(1)
	h.put(1, "k", "old")
	late := h.holdReadAnswer(2)
	h.readIndex(2) // the previous incarnation's first round
	h.settle()
	if late() == nil {
		t.Fatal("no read index answer captured")
	}
	h.intercept = nil
	written := h.put(1, "k", "new")
	previous := defaultEpoch(h.nodes[2])
	h.epoch = func(*hnode) uint64 { return previous - 1 }
	h.restart(2)
	h.nodes[2].cut = true
	read := h.readIndex(2)
	// The round goes unanswered; after an election timeout (15 ticks) the
	// follower asks again, in a second round.
	for range 20 {
		h.tick(2)
	}
	if err := h.nodes[2].s.Deliver(late()); err != nil {
		t.Fatal(err)
	}
	h.nodes[2].cut = false
	index := h.awaitRead(read)
	if index < written {
		t.Fatalf("read index %d is below the write acknowledged at %d", index, written)
	}
}

// TestLeaseReads checks that lease reads are served without a round while
// the lease holds, and with one after a leadership transfer started or once
// the wall clock passed the lease (a paused process loses ticks, not time).
func TestLeaseReads(t *testing.T) {
	setup := func(t *testing.T, fault raftcore.EngineFault) (*harness, func() int) {
		h := newHarness(t, []uint64{1, 2, 3}, fault, func(c *raftcore.Config) { c.LeaseReads = true })
		h.elect(1)
		h.put(1, "k", "v")
		heartbeats := 0
		h.intercept = func(m *raftpb.Message) bool {
			if m.GetType() == raftpb.MsgHeartbeat {
				heartbeats++
			}
			return true
		}
		// One round starts the lease.
		read := h.readIndex(1)
		h.settle()
		if _, done := read(); !done {
			t.Fatal("first read not done")
		}
		return h, func() int { n := heartbeats; heartbeats = 0; return n }
	}
	local := func(h *harness) bool {
		read := h.readIndex(1)
		_, done := read()
		h.settle()
		return done
	}
	t.Run("served locally", func(t *testing.T) {
		h, rounds := setup(t, "")
		rounds()
		if !local(h) {
			t.Fatal("a read inside the lease was not served at once")
		}
		if n := rounds(); n != 0 {
			t.Fatalf("%d heartbeats for a lease read", n)
		}
	})
	t.Run("clock past the lease", func(t *testing.T) {
		h, _ := setup(t, "")
		h.now = h.now.Add(time.Second) // no ticks: the process was paused
		if local(h) {
			t.Fatal("a read after the lease ran out on the wall clock was served at once")
		}
	})
	for _, fault := range []raftcore.EngineFault{"", raftcore.FaultLeaseDuringTransfer} {
		t.Run("transfer/fault="+string(fault), func(t *testing.T) {
			h, _ := setup(t, fault)
			h.nodes[2].cut, h.nodes[3].cut = true, true // the transfer hangs
			h.nodes[1].s.TransferLeadership(2)
			h.settle()
			served := local(h)
			if fault == "" && served {
				t.Fatal("a lease read was served while a leadership transfer was under way")
			}
			if fault != "" && !served {
				t.Fatal("with the fault injected the read was not served: the test cannot see the bug")
			}
		})
	}
}

// TestRestartedNodeRefusesVotesDuringTheLease: with lease reads, a node that
// just restarted has forgotten the leader whose lease it may have granted,
// and must not vote before an election timeout has passed.
func TestRestartedNodeRefusesVotesDuringTheLease(t *testing.T) {
	h := newHarness(t, []uint64{1, 2, 3}, "", func(c *raftcore.Config) { c.LeaseReads = true })
	h.elect(1)
	h.put(1, "k", "v")
	h.nodes[1].cut = true
	h.restart(2)
	// Node 3 campaigns at once; restarted node 2 must refuse it.
	for range 100 {
		h.tick(3)
		if h.nodes[3].s.Role() == raftcore.RoleLeader {
			break
		}
	}
	if h.nodes[3].s.Role() == raftcore.RoleLeader {
		t.Fatal("node 3 was elected by a node restarted less than an election timeout ago")
	}
	for range 400 {
		h.tick(2, 3)
		if h.nodes[3].s.Role() == raftcore.RoleLeader || h.nodes[2].s.Role() == raftcore.RoleLeader {
			return
		}
	}
	t.Fatal("no leader once the restarted node's first election timeout passed")
}

// TestForwardedReadWaitsForTheSingleVoterToCommitItsTerm: a single voter
// restarted with a durable commit index behind an acknowledged write must not
// answer a learner's read with it (etcd-io/raft#105, through a forward).
func TestForwardedReadWaitsForTheSingleVoterToCommitItsTerm(t *testing.T) {
	h := newHarness(t, []uint64{1}, "", nil)
	h.elect(1)
	h.add(2, true)
	h.confChange(1, raftpb.ConfChangeAddLearnerNode, 2)
	var written uint64
	for i := range 5 {
		written = h.put(1, "k", string(rune('a'+i)))
	}
	h.restart(1)
	h.nodes[1].holdEntries = true // its term's first entry is not durable yet
	h.elect(1)
	read := h.readIndex(2)
	for range 5 {
		h.tick(2)
	}
	if index, done := read(); done && index < written {
		t.Fatalf("learner read at index %d, below the write acknowledged at %d", index, written)
	}
	h.nodes[1].holdEntries = false
	for range 50 {
		if _, done := read(); done {
			break
		}
		h.tick()
	}
	if index, done := read(); !done || index < written {
		t.Fatalf("learner read done=%v at index %d; want >= %d", done, index, written)
	}
}

// TestOrphanSnapshotsNeverDisplaceTheLogsSnapshot: snapshots stored but
// never installed (raft declined them) sit above the log's snapshot index;
// pruning must keep the log's snapshot, and a restart removes the orphans.
func TestOrphanSnapshotsNeverDisplaceTheLogsSnapshot(t *testing.T) {
	h := newHarness(t, []uint64{1}, "", func(c *raftcore.Config) {
		c.DisableAutoSnapshot, c.SnapshotsRetained = true, 1
	})
	h.elect(1)
	n := h.nodes[1]
	h.put(1, "a", "1")
	for _, idx := range []uint64{1000, 2000} {
		sink, err := n.ss.Create(raftcore.SnapshotMeta{Index: idx, Term: 1, ConfState: &raftpb.ConfState{Voters: []uint64{1}}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = sink.Write([]byte("orphan"))
		if err := sink.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	h.put(1, "b", "2")
	meta, err := n.s.TakeSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, rc, err := n.ss.Open(meta.Index); err != nil {
		t.Fatalf("the log's snapshot %d was pruned: %v", meta.Index, err)
	} else {
		rc.Close()
	}
	h.restart(1)
	list, _ := n.ss.List()
	if len(list) != 1 || list[0].Index != meta.Index {
		t.Fatalf("snapshots after restart: %+v; want only %d", list, meta.Index)
	}
	if got := n.kv.Data["b"]; got != "2" {
		t.Fatalf("restored b=%q", got)
	}
}

// TestSnapshotRaftWouldIgnoreIsNotStored: a snapshot of a lower term, or at
// an index already committed, is read and dropped, never stored.
func TestSnapshotRaftWouldIgnoreIsNotStored(t *testing.T) {
	h := newHarness(t, []uint64{1, 2, 3}, "", nil)
	h.elect(1)
	commit := h.put(1, "a", "1")
	n := h.nodes[2]
	for _, m := range []*raftpb.Message{
		snapMsg(1, 2, n.s.Term(), commit, n.s.Term()),      // already committed
		snapMsg(1, 2, 0+1, commit+50, 1),                   // lower term (the term is 2 after one election)
		snapMsg(3, 2, n.s.Term()+5, commit+50, n.s.Term()), // fine: stored
	} {
		_ = n.s.ReceiveSnapshot(m, bytes.NewReader(nil))
	}
	list, _ := n.ss.List()
	var idx []uint64
	for _, meta := range list {
		idx = append(idx, meta.Index)
	}
	if !slices.Equal(idx, []uint64{commit + 50}) {
		t.Fatalf("stored snapshots %v; want only the acceptable one at %d", idx, commit+50)
	}
}

func snapMsg(from, to, term, index, snapTerm uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: &from, To: &to, Term: &term,
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: &index, Term: &snapTerm, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}},
	}
}

// recordingTransport records the peers a node registers.
type recordingTransport struct {
	stepTransport
	peers map[uint64]bool
}

func (r *recordingTransport) AddPeer(p raftcore.Peer) error {
	r.peers[p.ID] = true
	return nil
}

func (r *recordingTransport) RemovePeer(id uint64) { delete(r.peers, id) }

// TestRestartDoesNotTrustRemovedPeersFromTheConfig: a node restarted with its
// original peer list must register only the current members.
func TestRestartDoesNotTrustRemovedPeersFromTheConfig(t *testing.T) {
	h := newHarness(t, []uint64{1, 2, 3}, "", nil)
	h.elect(1)
	h.confChange(1, raftpb.ConfChangeRemoveNode, 3)
	h.put(1, "k", "v")
	n := h.nodes[2]
	// From a snapshot taken after the removal, the log no longer replays it.
	if _, err := n.s.TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	tr := &recordingTransport{peers: map[uint64]bool{}}
	cfg := h.cfg(2)
	cfg.LogStore, cfg.SnapshotStore, cfg.Transport = n.ls, n.ss, tr
	s, err := raftcore.NewStepper(cfg, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{}, 99<<32)
	if err != nil {
		t.Fatal(err)
	}
	// Replay the log, as the node does once it knows its commit index.
	for range 5 {
		out := s.Ready()
		if resps, err := s.Persist(out.Persist); err == nil {
			for _, m := range resps {
				s.Step(m)
			}
		}
		for _, m := range out.Apply {
			resps, _ := s.Apply(m)
			for _, r := range resps {
				s.Step(r)
			}
		}
	}
	if tr.peers[3] {
		t.Fatalf("restarted node trusts removed member 3 (peers %v)", tr.peers)
	}
	_ = context.Background
	_ = io.EOF
}
