package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestNodesJoinWithTicketsAndArePromoted: node 1 runs alone; nodes 2 and 3
// start with voter tickets from `jangadactl ticket create` (in files), are
// added as learners and promoted by the leader's autopilot; jangadactl
// then shows three voters and writes work through every node. A spent
// ticket is refused with an error that says so.
func TestNodesJoinWithTicketsAndArePromoted(t *testing.T) {
	bin := buildJangadactl(t)
	c := newCluster(t, 1, "pebble")
	jc := newCtl(t, bin, c)
	c.WaitLeader(30 * time.Second)

	tickets := map[uint64]string{}
	for id := uint64(2); id <= 3; id++ {
		tickets[id] = filepath.Join(t.TempDir(), fmt.Sprintf("node%d.ticket", id))
		jc.Must("ticket", "create", "--role", "voter", "--ttl", "10m", "--out", tickets[id])
		c.AddNode(t.TempDir(), id)
		c.Start(id, "--join-ticket-file", tickets[id], "--autopilot-stabilization", "300ms")
	}

	clustertest.WaitFor(t, "three voters in jangadactl status", 60*time.Second, func() bool {
		st, err := jc.status()
		if err != nil {
			return false
		}
		voters := 0
		for _, m := range st.Members {
			if m.Role == "voter" {
				voters++
			}
		}
		return voters == 3 && len(st.Members) == 3
	})
	jc.Must("status")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, nd := range c.Nodes() {
		if _, err := nd.Client.Put(ctx, fmt.Sprintf("via-%d", nd.ID), []byte("ok"), kvstore.WriteOptions{}); err != nil {
			t.Fatalf("write through node %d: %v", nd.ID, err)
		}
	}
	for _, nd := range c.Nodes() {
		for _, from := range c.Nodes() {
			v, _, err := nd.Client.Get(ctx, fmt.Sprintf("via-%d", from.ID), false)
			if err != nil || string(v) != "ok" {
				t.Fatalf("read of node %d's write on node %d: %q, %v", from.ID, nd.ID, v, err)
			}
		}
	}

	// Node 3's ticket is spent: a fourth node presenting it is refused.
	cmd := exec.CommandContext(ctx, binary, "serve", "--data-dir", filepath.Join(t.TempDir(), "node4"),
		"--listen", kvtest.FreeUDPAddr(t), "--http", kvtest.FreeTCPAddr(t), "--preset", "testing",
		"--cluster-secret-file", c.SecretFile, "--join-ticket-file", tickets[3])
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ticket already used") {
		t.Fatalf("a spent ticket: got %v\n%s", err, out)
	}
}

// TestMemberRestartedOnANewPortIsReachedAgain: node 3 stops and starts
// again from its data on another port; its peers know it by its key, the
// leader records the new address through the log, and it takes writes
// again.
func TestMemberRestartedOnANewPortIsReachedAgain(t *testing.T) {
	bin := buildJangadactl(t)
	c := newCluster(t, 3, "pebble")
	jc := newCtl(t, bin, c)
	c.WaitLeader(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.Node(1).Client.Put(ctx, "before", []byte("1"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	nd := c.Node(3)
	if err := c.Terminate(3); err != nil {
		t.Fatal(err)
	}
	old := nd.RaftAddr
	nd.RaftAddr = kvtest.FreeUDPAddr(t)
	c.Peers = strings.Replace(c.Peers, "3="+old, "3="+nd.RaftAddr, 1) // --peers must name this node's address
	c.Start(3)

	clustertest.WaitFor(t, "node 3's new address in the membership", 60*time.Second, func() bool {
		out, err := jc.Run("member", "list", "--json")
		return err == nil && strings.Contains(out, nd.RaftAddr) && !strings.Contains(out, old)
	})
	if _, err := c.Node(1).Client.Put(ctx, "after", []byte("2"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, "node 3 applies a write made after its move", 60*time.Second, func() bool {
		v, _, err := nd.Client.Get(ctx, "after", true)
		return err == nil && string(v) == "2"
	})
	jc.Must("member", "list")
}
