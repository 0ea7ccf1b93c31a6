package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func memberOf(st mgmt.Status, id uint64) (mgmt.Member, bool) {
	for _, m := range st.Members {
		if m.ID == id {
			return m, true
		}
	}
	return mgmt.Member{}, false
}

// TestEveryOperation grows a cluster to four nodes and back with the client
// alone: status, members, health, snapshot, add as learner, promote,
// transfer (to a node and to the most caught-up voter), remove the leader
// and a follower, and the errors of wrong requests.
func TestEveryOperation(t *testing.T) {
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			ctx := testContext(t, 90*time.Second)
			c := newCluster(t, s, 3)
			cl := c.adminClient(ctx)

			st, err := cl.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lead := c.leader()
			if st.Leader != lead.id || st.ID != lead.id || st.Role != "leader" || st.Term == 0 || len(st.Members) != 3 {
				t.Fatalf("Status = %+v, want the leader's view (leader %d) of 3 members", st, lead.id)
			}
			for _, m := range st.Members {
				if !m.Progress || m.Role != mgmt.RoleVoter || m.Address == "" {
					t.Errorf("member %+v: want a voter with address and progress", m)
				}
			}
			members, err := cl.MemberList(ctx)
			if err != nil || len(members) != 3 {
				t.Fatalf("MemberList = %v, %v; want 3 members", members, err)
			}
			for _, e := range cl.Endpoints() {
				checks, err := cl.Health(ctx, e)
				if err != nil || len(checks) == 0 || checks[0].Status != mgmt.HealthOK {
					t.Errorf("Health(%s) = %v, %v; want ok", e.Addr, checks, err)
				}
			}
			if _, err := lead.node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}); err != nil {
				t.Fatal(err)
			}
			node, index, err := cl.Snapshot(ctx)
			if err != nil || node == 0 || index == 0 {
				t.Fatalf("Snapshot = node %d index %d, %v", node, index, err)
			}
			if got := c.member(node).node.Status().SnapshotIndex; got < index {
				t.Errorf("node %d snapshot index %d after Snapshot returned %d", node, got, index)
			}

			// Grow: node 4 joins empty, is added as a learner, promoted once
			// caught up, and takes over leadership.
			n4 := c.join(4)
			if err := cl.MemberAdd(ctx, 4, n4.peer.Addr, n4.peer.Key, true); err != nil {
				t.Fatalf("MemberAdd(4, learner): %v", err)
			}
			waitCaughtUp(t, ctx, cl, 4)
			st, _ = cl.Status(ctx)
			if m, _ := memberOf(st, 4); m.Role != mgmt.RoleLearner {
				t.Fatalf("member 4 = %+v, want a learner", m)
			}
			if err := cl.MemberAdd(ctx, 4, n4.peer.Addr, n4.peer.Key, true); !errors.Is(err, mgmt.ErrConflict) {
				t.Errorf("adding member 4 twice: %v, want ErrConflict", err)
			}
			if err := cl.MemberPromote(ctx, 4); err != nil {
				t.Fatalf("MemberPromote(4): %v", err)
			}
			if err := cl.MemberPromote(ctx, 99); !errors.Is(err, mgmt.ErrNotFound) {
				t.Errorf("MemberPromote(99): %v, want ErrNotFound", err)
			}
			if to, err := cl.LeaderTransfer(ctx, 4); err != nil || to != 4 {
				t.Fatalf("LeaderTransfer(4) = %d, %v", to, err)
			}
			if lead := c.leader(); lead.id != 4 {
				t.Fatalf("leader %d after transfer to 4", lead.id)
			}

			// Transfer to whoever is most caught up: any voter but 4.
			to, err := cl.LeaderTransfer(ctx, 0)
			if err != nil || to == 4 || to == 0 {
				t.Fatalf("LeaderTransfer(0) = %d, %v; want another voter", to, err)
			}
			if lead := c.leader(); lead.id != to {
				t.Fatalf("leader %d after transfer to %d", lead.id, to)
			}

			// Shrink: remove the leader itself, then a follower.
			oldLeader := to
			if err := cl.MemberRemove(ctx, oldLeader); err != nil {
				t.Fatalf("MemberRemove(leader %d): %v", oldLeader, err)
			}
			c.stop(oldLeader)
			lead = c.leader()
			if lead.id == oldLeader {
				t.Fatalf("removed leader %d still leads", oldLeader)
			}
			var follower uint64
			for _, m := range c.running() {
				if m.id != lead.id {
					follower = m.id
				}
			}
			if err := cl.MemberRemove(ctx, follower); err != nil {
				t.Fatalf("MemberRemove(%d): %v", follower, err)
			}
			c.stop(follower)
			if err := cl.MemberRemove(ctx, follower); !errors.Is(err, mgmt.ErrNotFound) {
				t.Errorf("removing %d twice: %v, want ErrNotFound", follower, err)
			}
			if err := cl.MemberAdd(ctx, 0, "", nil, false); !errors.Is(err, mgmt.ErrInvalid) {
				t.Errorf("MemberAdd without id: %v, want ErrInvalid", err)
			}
			st, err = cl.Status(ctx)
			if err != nil || len(st.Members) != 2 {
				t.Fatalf("Status after shrinking = %+v, %v; want 2 members", st, err)
			}
			if _, err := lead.node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "after", Value: "v"}); err != nil {
				t.Fatalf("write after shrinking to 2: %v", err)
			}
		})
	}
}

// TestNonAdminIsRefusedEveryMutatingCall calls every mutating operation
// with a member's key (allowed to read, not to change) and checks that each
// is refused and changed nothing. In cluster-secret mode every member holds
// the secret, so a member is an admin; see TestSecretModeRefusesKeysWithoutTheSecret.
func TestNonAdminIsRefusedEveryMutatingCall(t *testing.T) {
	for _, s := range setups[:2] {
		t.Run(s.name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			c := newCluster(t, s, 3)
			lead := c.leader()
			// A member's own key: the transport proves it, the server lets it read.
			var key = c.member(1).key
			cl, err := mgmt.Dial(ctx, c.endpoints(), mgmt.ClientConfig{Transport: c.clientTransport(key, false)})
			if err != nil {
				t.Fatalf("Dial with a member key: %v", err)
			}
			if _, err := cl.Status(ctx); err != nil {
				t.Fatalf("Status with a member key: %v", err)
			}
			before := lead.node.Status()
			calls := map[string]func() error{
				"MemberAdd":     func() error { return cl.MemberAdd(ctx, 9, "127.0.0.1:9", nil, true) },
				"MemberPromote": func() error { return cl.MemberPromote(ctx, 2) },
				"MemberRemove":  func() error { return cl.MemberRemove(ctx, 2) },
				"LeaderTransfer": func() error {
					_, err := cl.LeaderTransfer(ctx, 0)
					return err
				},
				"Snapshot": func() error {
					_, _, err := cl.Snapshot(ctx)
					return err
				},
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, mgmt.ErrUnauthorized) {
					t.Errorf("%s with a member key: %v, want ErrUnauthorized", name, err)
				}
			}
			after := lead.node.Status()
			if len(after.Members) != len(before.Members) || after.Leader != before.Leader || after.SnapshotIndex != before.SnapshotIndex {
				t.Errorf("refused calls changed the cluster: before %+v, after %+v", before, after)
			}
		})
	}
}

// TestStrangerIsRefusedReads checks that a key that is neither a member's
// nor an admin's cannot even read (over transport-mem, where any key
// connects; QUIC refuses such a key in the handshake already).
func TestStrangerIsRefusedReads(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := newCluster(t, setups[0], 3)
	_, err := mgmt.Dial(ctx, c.endpoints(), mgmt.ClientConfig{Transport: c.clientTransport(newKey(t), false)})
	if !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Fatalf("Dial with a stranger's key: %v, want ErrUnauthorized", err)
	}
}

// TestSecretModeRefusesKeysWithoutTheSecret: in cluster-secret mode a
// caller without the secret, even with a key the transport trusts, is
// refused every call (it is neither a member nor an admin).
func TestSecretModeRefusesKeysWithoutTheSecret(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	c := newCluster(t, setups[2], 3)
	_, err := mgmt.Dial(ctx, c.keyedEndpoints(), mgmt.ClientConfig{Transport: c.clientTransport(c.operator, false)})
	if !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Fatalf("Dial with a trusted key but no secret: %v, want ErrUnauthorized", err)
	}
}

// TestMutatingCallsFollowTheLeader dials only a follower: mutating calls
// reach the leader through the follower's not-leader answer.
func TestMutatingCallsFollowTheLeader(t *testing.T) {
	for _, s := range setups[:2] {
		t.Run(s.name, func(t *testing.T) {
			ctx := testContext(t, 60*time.Second)
			c := newCluster(t, s, 3)
			lead := c.leader()
			var follower uint64
			for _, m := range c.running() {
				if m.id != lead.id {
					follower = m.id
				}
			}
			cl, err := mgmt.Dial(ctx, c.endpoints(follower), mgmt.ClientConfig{Transport: c.clientTransport(c.admin, true)})
			if err != nil {
				t.Fatal(err)
			}
			n4 := c.join(4)
			if err := cl.MemberAdd(ctx, 4, n4.peer.Addr, n4.peer.Key, true); err != nil {
				t.Fatalf("MemberAdd through follower %d: %v", follower, err)
			}
			if _, ok := memberOf(mustStatus(t, cl), 4); !ok {
				t.Fatal("member 4 missing after MemberAdd")
			}
			// A transfer asked of a follower, to another follower.
			var other uint64
			for _, m := range c.running() {
				if m.id != lead.id && m.id != follower && m.id <= 3 {
					other = m.id
				}
			}
			// A new client, which has not learnt who leads.
			cl, err = mgmt.Dial(ctx, c.endpoints(follower), mgmt.ClientConfig{Transport: c.clientTransport(c.admin, true)})
			if err != nil {
				t.Fatal(err)
			}
			if to, err := cl.LeaderTransfer(ctx, other); err != nil || to != other {
				t.Fatalf("LeaderTransfer(%d) through follower %d = %d, %v", other, follower, to, err)
			}
			if lead := c.leader(); lead.id != other {
				t.Fatalf("leader %d after transfer to %d", lead.id, other)
			}
		})
	}
}

func mustStatus(t *testing.T, cl *mgmt.Client) mgmt.Status {
	t.Helper()
	st, err := cl.Status(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var _ = fmt.Sprint
var _ = raftcore.RoleLeader
