package raftcore_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// memberOf returns member id as node n lists it; ok is false until n has
// applied the member's addition.
func memberOf(n *clustertest.Node[clustertest.KVCommand, clustertest.KVResult], id uint64) (p raftcore.Peer, ok bool) {
	for _, m := range n.Status().Members {
		if m.ID == id {
			return m.Peer, true
		}
	}
	return raftcore.Peer{}, false
}

// TestBindMemberKeyIsTrustOnFirstUse: a member added without a key gets the
// first key bound to it on every node; another key is refused after that.
func TestBindMemberKeyIsTrustOnFirstUse(t *testing.T) {
	c := newKVCluster(t, 3, nil)
	ctx := clustertest.Context(t, 10*time.Second)
	leader := c.Leader()
	if err := leader.AddLearner(ctx, raftcore.Peer{ID: 9, Addr: "node-9"}); err != nil {
		t.Fatal(err)
	}
	first, second := []byte("key-one"), []byte("key-two")
	if err := leader.BindMemberKey(ctx, 9, first); err != nil {
		t.Fatalf("first bind: %v", err)
	}
	if err := leader.BindMemberKey(ctx, 9, first); err != nil {
		t.Fatalf("binding the same key again: %v", err)
	}
	if err := leader.BindMemberKey(ctx, 9, second); !errors.Is(err, raftcore.ErrKeyConflict) {
		t.Fatalf("binding another key = %v, want ErrKeyConflict", err)
	}
	if err := leader.BindMemberKey(ctx, 42, first); !errors.Is(err, raftcore.ErrUnknownMember) {
		t.Fatalf("binding a key to a non-member = %v, want ErrUnknownMember", err)
	}
	for _, id := range c.Running() {
		clustertest.WaitFor(t, "the bound key on every node", 5*time.Second, func() bool {
			p, ok := memberOf(c.Node(id), 9)
			return ok && bytes.Equal(p.Key, first)
		})
	}
	// An operator rotating the key replaces it, address included.
	if err := leader.UpdateMember(ctx, raftcore.Peer{ID: 9, Addr: "node-9b", Key: second}); err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, id := range c.Running() {
		clustertest.WaitFor(t, "the updated member on every node", 5*time.Second, func() bool {
			p, ok := memberOf(c.Node(id), 9)
			return ok && bytes.Equal(p.Key, second) && p.Addr == "node-9b"
		})
	}
}

// TestTransferLeadershipIsAskedOfTheLeader: a follower answers with the
// leader's id instead of relaying a request its transport may drop.
func TestTransferLeadershipIsAskedOfTheLeader(t *testing.T) {
	c := newKVCluster(t, 3, nil)
	ctx := clustertest.Context(t, 10*time.Second)
	leader := c.Leader()
	follower := c.Follower()
	var notLeader *raftcore.NotLeaderError
	if err := follower.TransferLeadership(ctx, follower.ID()); !errors.As(err, &notLeader) || notLeader.LeaderID != leader.ID() {
		t.Fatalf("transfer asked of a follower = %v, want a *NotLeaderError naming %d", err, leader.ID())
	}
	if err := leader.TransferLeadership(ctx, follower.ID()); err != nil {
		t.Fatalf("transfer asked of the leader: %v", err)
	}
}
