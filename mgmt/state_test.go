package mgmt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// A state copy streams in many frames and restores into an equal state; a
// caller without admin credentials gets none of it.
func TestStateCopyStreamsTheWholeStateToAdminsOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	network := newPipeNetwork()
	memberKey := bytes.Repeat([]byte{7}, 32)
	self := raftcore.Peer{ID: 1, Addr: "node-1", Key: memberKey}
	tr := network.transport(self)
	kv := clustertest.NewKV()
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{self}, Preset: raftcore.Testing,
		Transport: tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, kv, clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close(ctx)
	if _, err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 8<<10)
	for i := range 100 { // 800 KiB: several data frames
		if _, err := node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprint(i), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}, StateMachine: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	admin := network.transport(raftcore.Peer{Addr: "tool", Key: adminKey()})
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: admin})
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Info.StateMachine != "kv" || r.Info.Node != 1 || r.Info.Index < 100 || len(r.Info.Members) != 1 {
		t.Fatalf("state info %+v", r.Info)
	}
	got := clustertest.NewKV()
	if err := got.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 100 || got.Data["99"] != value {
		t.Fatalf("copy holds %d keys", len(got.Data))
	}

	// A member (by its key, not an admin's) may read the status, not the state.
	member := network.transport(raftcore.Peer{Addr: "member-tool", Key: memberKey})
	mc, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: member})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.State(ctx); !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Fatalf("state copy for a member: %v, want ErrUnauthorized", err)
	}
}
