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
	value := strings.Repeat("v", 8<<10)
	// 100 puts, 800 KiB: several data frames.
	client, mc := stateNode(ctx, t, 100, func(int) string { return value })
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
	if _, err := mc.State(ctx); !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Fatalf("state copy for a member: %v, want ErrUnauthorized", err)
	}
}

// stateNode starts a single-node cluster of clustertest's KV over a pipe
// network, proposes n puts (key i, value(i)), mounts the management server
// with the "kv" state machine, and returns a client with admin credentials
// and one with a member's key only.
func stateNode(ctx context.Context, t *testing.T, n int, value func(i int) string) (admin, member *mgmt.Client) {
	t.Helper()
	network := newPipeNetwork()
	memberKey := bytes.Repeat([]byte{7}, 32)
	self := raftcore.Peer{ID: 1, Addr: "node-1", Key: memberKey}
	tr := network.transport(self)
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{self}, Preset: raftcore.Testing,
		Transport: tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close(context.Background()) })
	if _, err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprint(i), Value: value(i)}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}, StateMachine: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dial := func(key []byte, addr string) *mgmt.Client {
		c, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: network.transport(raftcore.Peer{Addr: addr, Key: key})})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return dial(adminKey(), "tool"), dial(memberKey, "member-tool")
}
