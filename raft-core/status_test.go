package raftcore_test

import (
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestLeaderActiveFollowsContactWithTheLeader: every node of a healthy
// cluster reports its leader active; a follower cut off from the others
// stops doing so (it would forward writes into the void), and does again
// once healed. A node that names no leader never reports one active.
func TestLeaderActiveFollowsContactWithTheLeader(t *testing.T) {
	c := newKVCluster(t, 3, nil)
	lead := c.Leader()
	f := c.Follower()
	allActive := func() bool {
		for _, id := range c.Running() {
			if st := c.Node(id).Status(); st.Leader != lead.ID() || !st.LeaderActive {
				return false
			}
		}
		return true
	}
	clustertest.WaitFor(t, "every node to report leader active", 10*time.Second, allActive)

	var others []uint64
	for _, id := range c.Running() {
		if id != f.ID() {
			others = append(others, id)
		}
	}
	c.Net.Partition([]uint64{f.ID()}, others)
	clustertest.WaitFor(t, "the isolated follower to report its leader inactive", 10*time.Second, func() bool {
		st := f.Status()
		return !st.LeaderActive
	})
	if st := lead.Status(); !st.LeaderActive || st.Leader != lead.ID() {
		t.Errorf("leader's status = leader %d, active %v; want itself, active", st.Leader, st.LeaderActive)
	}
	for range 50 {
		if st := f.Status(); st.Leader == 0 && st.LeaderActive {
			t.Fatalf("status names no leader but reports it active: %+v", st)
		}
	}

	c.Net.Heal()
	clustertest.WaitFor(t, "every node to report the leader active after the heal", 10*time.Second, func() bool {
		l := c.Leader()
		for _, id := range c.Running() {
			if st := c.Node(id).Status(); st.Leader != l.ID() || !st.LeaderActive {
				return false
			}
		}
		return true
	})
}

// TestLeaderActiveEndsOneElectionTimeoutAfterTheLeadersLastMessage drives
// nodes by hand: a follower cut off from the leader keeps naming it for a
// while (until its own randomized election timeout makes it a pre-candidate),
// but reports it active only for an election timeout of ticks after the
// leader's last message.
func TestLeaderActiveEndsOneElectionTimeoutAfterTheLeadersLastMessage(t *testing.T) {
	const electionTicks = 10
	h := newHarness(t, []uint64{1, 2, 3}, "", func(c *raftcore.Config) {
		c.TickInterval, c.HeartbeatInterval, c.ElectionTimeout = 10*time.Millisecond, 10*time.Millisecond, electionTicks*10*time.Millisecond
	})
	h.elect(1)
	h.put(1, "k", "v")
	f := h.nodes[2].s
	if !f.LeaderActive() || f.Leader() != 1 {
		t.Fatalf("follower: leader %d, active %v; want 1, active", f.Leader(), f.LeaderActive())
	}
	h.nodes[2].cut = true
	for i := 1; i < electionTicks; i++ {
		h.tick(2)
		if !f.LeaderActive() {
			t.Fatalf("follower reports its leader inactive after %d of %d ticks without contact", i, electionTicks)
		}
	}
	for range 3 * electionTicks {
		h.tick(2)
		if f.LeaderActive() {
			t.Fatalf("follower still reports leader %d active after an election timeout without contact", f.Leader())
		}
	}
	h.nodes[2].cut = false
	h.tick(1)
	h.tick(1)
	if !f.LeaderActive() || f.Leader() != 1 {
		t.Errorf("reconnected follower: leader %d, active %v; want 1, active", f.Leader(), f.LeaderActive())
	}
}
