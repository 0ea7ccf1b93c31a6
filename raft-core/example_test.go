package raftcore_test

import (
	"context"
	"fmt"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// A three-node cluster in one process: propose on any node, read
// linearizably from another, close gracefully. Real deployments use
// transport-quic and store-pebble instead of the loopback network and the
// in-memory stores.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	network := clustertest.NewLoopback(nil)
	peers := []raftcore.Peer{network.Peer(1), network.Peer(2), network.Peer(3)}
	var nodes []*raftcore.Node[clustertest.KVCommand, clustertest.KVResult]
	var machines []*clustertest.KV
	for _, p := range peers {
		kv := clustertest.NewKV()
		node, err := raftcore.Start(ctx, raftcore.Config{
			NodeID:        p.ID,
			Peers:         peers,
			Preset:        raftcore.Testing,
			Transport:     network.Transport(nil, p.ID),
			LogStore:      raftcore.NewMemoryLogStore(),
			SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, kv, clustertest.JSONCodec[clustertest.KVCommand]{})
		if err != nil {
			fmt.Println(err)
			return
		}
		nodes, machines = append(nodes, node), append(machines, kv)
	}
	// Propose from node 1, whether or not it leads, once it knows a leader.
	if _, err := nodes[0].WaitLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := nodes[0].Propose(ctx, clustertest.KVCommand{Op: "put", Key: "hello", Value: "world"})
	fmt.Println("committed:", err == nil, "previous value:", res.Prev == "")

	// A linearizable read on node 3 sees the write.
	var value string
	_ = nodes[2].Read(ctx, func() error { value = machines[2].Data["hello"]; return nil })
	fmt.Println("node 3 reads:", value)

	for _, n := range nodes {
		_ = n.Close(ctx)
	}
	// Output:
	// committed: true previous value: true
	// node 3 reads: world
}
