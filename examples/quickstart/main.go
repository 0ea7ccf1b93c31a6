// Command quickstart is the README's quick start: one jangada node on
// transport-mem with in-memory stores, a write and a linearizable read.
package main

import (
	"context"
	"fmt"
	"log"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

func main() {
	ctx := context.Background()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	me := raftcore.Peer{ID: 1, Addr: "node-1"}
	transport, _ := network.Transport(me)
	kv := clustertest.NewKV() // any raftcore.StateMachine[C, R]
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{me}, Preset: raftcore.Testing,
		Transport: transport, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, kv, clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(ctx)
	if _, err := node.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}
	res, err := node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "hello", Value: "world"})
	fmt.Println("committed at index", res.Index, err)
	_ = node.Read(ctx, func() error { fmt.Println("hello =", kv.Data["hello"]); return nil })
}
