package raftcore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

type kvNode = raftcore.Node[clustertest.KVCommand, clustertest.KVResult]

func startKVCluster(t *testing.T, ctx context.Context, network clustertest.Network, peers []raftcore.Peer, stores func(id uint64) (raftcore.LogStore, raftcore.SnapshotStore)) ([]*kvNode, []*clustertest.KV) {
	t.Helper()
	var nodes []*kvNode
	var machines []*clustertest.KV
	for _, p := range peers {
		kv := clustertest.NewKV()
		ls, ss := stores(p.ID)
		node, err := raftcore.Start(ctx, raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Testing,
			Transport: network.Transport(t, p.ID), LogStore: ls, SnapshotStore: ss,
		}, kv, clustertest.JSONCodec[clustertest.KVCommand]{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Close(context.Background()) })
		nodes, machines = append(nodes, node), append(machines, kv)
	}
	return nodes, machines
}

func memoryStores(uint64) (raftcore.LogStore, raftcore.SnapshotStore) {
	return raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore()
}

// A state copy taken on a follower holds every write acknowledged before
// it; seeded into the empty stores of a new cluster with other ids, it is
// the new cluster's state, which then accepts writes.
func TestOpenStateOnFollowerSeedsNewCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	network := clustertest.NewLoopback(t)
	peers := []raftcore.Peer{network.Peer(1), network.Peer(2), network.Peer(3)}
	nodes, _ := startKVCluster(t, ctx, network, peers, memoryStores)
	leader, err := nodes[0].WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitLeaderEverywhere(t, ctx, nodes) // every node proposes below
	for i := range 50 {
		if _, err := nodes[i%3].Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprintf("k%02d", i), Value: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	follower := nodes[leader%3] // ids are 1..3: index leader%3 is another node
	sc, err := follower.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state, err := io.ReadAll(sc)
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Members) != 3 || sc.Meta.Index == 0 || sc.Meta.Term == 0 {
		t.Fatalf("state copy: members %v, meta %+v", sc.Members, sc.Meta)
	}
	want := clustertest.NewKV()
	if err := want.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if len(want.Data) != 50 || want.Data["k49"] != "49" {
		t.Fatalf("state copy holds %d keys, k49=%q; want 50 keys, k49=49", len(want.Data), want.Data["k49"])
	}

	fresh := clustertest.NewLoopback(t)
	newPeers := []raftcore.Peer{fresh.Peer(11), fresh.Peer(12), fresh.Peer(13)}
	seeded := func(uint64) (raftcore.LogStore, raftcore.SnapshotStore) {
		ls, ss := memoryStores(0)
		if _, err := raftcore.SeedState(ls, ss, sc.Meta.Index, sc.Meta.Term, newPeers, bytes.NewReader(state)); err != nil {
			t.Fatal(err)
		}
		return ls, ss
	}
	restored, machines := startKVCluster(t, ctx, fresh, newPeers, seeded)
	waitLeaderEverywhere(t, ctx, restored)
	if _, err := restored[1].Propose(ctx, clustertest.KVCommand{Op: "put", Key: "after", Value: "restore"}); err != nil {
		t.Fatal(err)
	}
	err = restored[2].Read(ctx, func() error {
		if got := machines[2].Data; len(got) != 51 || got["k07"] != "7" || got["after"] != "restore" {
			return fmt.Errorf("restored node holds %d keys, k07=%q after=%q", len(got), got["k07"], got["after"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := restored[0].Status(); len(st.Members) != 3 || st.Members[0].ID != 11 {
		t.Fatalf("restored membership %+v, want 11, 12, 13", st.Members)
	}
}

func TestSeedStateRefusesUsedStoresAndBadArguments(t *testing.T) {
	voters := []raftcore.Peer{{ID: 1, Addr: "a"}}
	ls, ss := memoryStores(0)
	if _, err := raftcore.SeedState(ls, ss, 10, 2, voters, bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"used stores": func() error {
			_, err := raftcore.SeedState(ls, ss, 10, 2, voters, bytes.NewReader(nil))
			return err
		},
		"no voters": func() error {
			_, err := raftcore.SeedState(raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore(), 10, 2, nil, bytes.NewReader(nil))
			return err
		},
		"index 0": func() error {
			_, err := raftcore.SeedState(raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore(), 0, 2, voters, bytes.NewReader(nil))
			return err
		},
		"duplicate voter": func() error {
			_, err := raftcore.SeedState(raftcore.NewMemoryLogStore(), raftcore.NewMemorySnapshotStore(), 10, 2, append(voters, voters[0]), bytes.NewReader(nil))
			return err
		},
	} {
		if err := call(); !errors.Is(err, raftcore.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// waitLeaderEverywhere waits until every node knows a leader: a follower
// that does not yet drops a proposal (ErrProposalDropped, "no leader").
func waitLeaderEverywhere(t *testing.T, ctx context.Context, nodes []*kvNode) {
	t.Helper()
	for _, n := range nodes {
		if _, err := n.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
