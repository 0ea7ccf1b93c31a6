package kvstore

import (
	"context"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"net/http/httptest"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// memCluster is an in-process cluster over transport-mem with memory
// stores, each node serving the API on an httptest server.
type memCluster struct {
	t        testing.TB
	net      *transportmem.Network
	nodes    []*raftcore.Node[Command, Result]
	machines []*Machine
	servers  []*httptest.Server
}

// startMemCluster starts n nodes with ids 1..n, of which only the first
// running count start (the others stay down, so a cluster can lack quorum).
func startMemCluster(t testing.TB, n, running int, cfg HandlerConfig) *memCluster {
	t.Helper()
	network, err := transportmem.NewNetwork(transportmem.NetworkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transport-mem seed %d", network.Seed())
	c := &memCluster{t: t, net: network}
	var peers []raftcore.Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, raftcore.Peer{ID: id, Addr: addrOf(id)})
	}
	t.Cleanup(c.close)
	for id := uint64(1); id <= uint64(running); id++ {
		tr, err := network.Transport(raftcore.Peer{ID: id, Addr: addrOf(id)})
		if err != nil {
			t.Fatal(err)
		}
		m := NewMachine()
		node, err := raftcore.Start(context.Background(), raftcore.Config{
			NodeID:        id,
			Peers:         peers,
			Preset:        raftcore.Testing,
			Transport:     tr,
			LogStore:      raftcore.NewMemoryLogStore(),
			SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, m, CommandCodec{})
		if err != nil {
			t.Fatalf("start node %d: %v", id, err)
		}
		hc := cfg
		hc.Node, hc.Machine = node, m
		h, err := NewHandler(hc)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
		c.machines = append(c.machines, m)
		c.servers = append(c.servers, httptest.NewServer(h))
	}
	return c
}

func addrOf(id uint64) string { return "mem-" + string(rune('0'+id)) }

func (c *memCluster) close() {
	for _, s := range c.servers {
		s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if err := n.Close(ctx); err != nil {
			c.t.Errorf("close node %d: %v", n.ID(), err)
		}
	}
}

// waitLeader waits until every running node knows the same leader.
func (c *memCluster) waitLeader() uint64 {
	c.t.Helper()
	var leader uint64
	clustertest.WaitFor(c.t, "a leader every node knows", 10*time.Second, func() bool {
		leader = c.nodes[0].Leader()
		for _, n := range c.nodes {
			if n.Leader() == 0 || n.Leader() != leader {
				return false
			}
		}
		return true
	})
	return leader
}
