// Command cluster runs a 3-node jangada cluster in one process (transport-mem,
// in-memory stores): it writes, reads linearizably from a follower, kills the
// leader, shows the failover, and checks that no acknowledged write was lost.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

type node = raftcore.Node[clustertest.KVCommand, clustertest.KVResult]

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	network, err := transportmem.NewNetwork(transportmem.NetworkConfig{})
	if err != nil {
		return err
	}
	var peers []raftcore.Peer
	for id := uint64(1); id <= 3; id++ {
		peers = append(peers, raftcore.Peer{ID: id, Addr: fmt.Sprintf("mem-%d", id)})
	}
	nodes := map[uint64]*node{}
	machines := map[uint64]*clustertest.KV{}
	for _, p := range peers {
		tr, err := network.Transport(p)
		if err != nil {
			return err
		}
		kv := clustertest.NewKV()
		n, err := raftcore.Start(ctx, raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Development,
			Transport: tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, kv, clustertest.JSONCodec[clustertest.KVCommand]{})
		if err != nil {
			return err
		}
		nodes[p.ID], machines[p.ID] = n, kv
	}
	defer func() {
		for _, n := range nodes {
			_ = n.Close(context.Background())
		}
	}()

	start := time.Now()
	leader, err := waitLeader(ctx, nodes)
	if err != nil {
		return err
	}
	fmt.Printf("node %d elected leader in %v\n", leader, time.Since(start).Round(time.Millisecond))

	for i := range 10 {
		res, err := nodes[1].Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprintf("key-%d", i), Value: fmt.Sprintf("value-%d", i)})
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		if i == 0 || i == 9 {
			fmt.Printf("put key-%d through node 1 -> committed at index %d\n", i, res.Index)
		}
	}
	reader := follower(nodes, leader)
	var v string
	if err := nodes[reader].Read(ctx, func() error { v = machines[reader].Data["key-9"]; return nil }); err != nil {
		return err
	}
	fmt.Printf("linearizable read of key-9 on follower %d -> %q\n", reader, v)

	fmt.Printf("killing leader %d\n", leader)
	killed := nodes[leader]
	delete(nodes, leader)
	dead, cancelDead := context.WithCancel(ctx)
	cancelDead() // no graceful hand-off: a crash
	_ = killed.Close(dead)

	start = time.Now()
	newLeader, err := waitLeader(ctx, nodes)
	if err != nil {
		return err
	}
	fmt.Printf("node %d took over in %v\n", newLeader, time.Since(start).Round(time.Millisecond))
	res, err := nodes[follower(nodes, newLeader)].Propose(ctx, clustertest.KVCommand{Op: "put", Key: "after-failover", Value: "ok"})
	if err != nil {
		return fmt.Errorf("put after failover: %w", err)
	}
	fmt.Printf("put after failover -> committed at index %d\n", res.Index)

	for id, n := range nodes {
		var missing int
		if err := n.Read(ctx, func() error {
			for i := range 10 {
				if machines[id].Data[fmt.Sprintf("key-%d", i)] != fmt.Sprintf("value-%d", i) {
					missing++
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if missing > 0 {
			return fmt.Errorf("node %d lost %d acknowledged writes", id, missing)
		}
		st := n.Status()
		fmt.Printf("node %d: role=%v term=%d commit=%d applied=%d, all 10 writes present\n", id, st.Role, st.Term, st.CommitIndex, st.AppliedIndex)
	}
	return nil
}

func waitLeader(ctx context.Context, nodes map[uint64]*node) (uint64, error) {
	for {
		for id, n := range nodes {
			if n.IsLeader() {
				return id, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("no leader elected")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func follower(nodes map[uint64]*node, leader uint64) uint64 {
	for id := range nodes {
		if id != leader {
			return id
		}
	}
	return leader
}
