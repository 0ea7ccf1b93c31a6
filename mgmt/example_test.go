package mgmt_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jangada-io/jangada/codec"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// machine is a state machine with no state.
type machine struct{}

func (machine) Apply(uint64, string) int  { return 0 }
func (machine) Snapshot(io.Writer) error  { return nil }
func (machine) Restore(r io.Reader) error { return nil }
func adminKey() []byte                    { return make([]byte, 32) }

// startNode starts a single-node cluster on tr.
func startNode(ctx context.Context, tr *pipeTransport) *raftcore.Node[string, int] {
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{{ID: 1, Addr: "node-1"}}, Preset: raftcore.Testing,
		Transport: tr, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, machine{}, codec.JSON[string]{})
	if err != nil {
		panic(err)
	}
	if _, err := node.WaitLeader(ctx); err != nil {
		panic(err)
	}
	return node
}

// A node mounts the server on its transport; a tool dials it with a
// transport of its own, which proves the tool's key.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network := newPipeNetwork()
	tr := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
	node := startNode(ctx, tr)
	defer node.Close(ctx)

	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	tool := network.transport(raftcore.Peer{Addr: "jangadactl", Key: adminKey()})
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
	if err != nil {
		panic(err)
	}
	st, err := client.Status(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("node %d is the %s of term %d with %d member(s)\n", st.ID, st.Role, st.Term, len(st.Members))
	_, index, err := client.Snapshot(ctx)
	fmt.Println("snapshot taken:", index > 0, err)
	// Output:
	// node 1 is the leader of term 2 with 1 member(s)
	// snapshot taken: true <nil>
}

// Events without Follow replays the events the node holds; every mutating
// call is among them, with the caller's key.
func ExampleClient_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	network := newPipeNetwork()
	tr := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
	node := startNode(ctx, tr)
	defer node.Close(ctx)
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	tool := network.transport(raftcore.Peer{Addr: "jangadactl", Key: adminKey()})
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
	if err != nil {
		panic(err)
	}
	if _, _, err := client.Snapshot(ctx); err != nil {
		panic(err)
	}
	err = client.Events(ctx, mgmt.EventsOptions{}, func(ev mgmt.Event) error {
		if ev.Type == mgmt.EventCall {
			fmt.Printf("call %s by %s\n", ev.Call.Op, ev.Call.Caller)
		}
		return nil
	})
	fmt.Println(err)
	// Output:
	// call snapshot by aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
	// <nil>
}

func ExampleParseEndpoints() {
	endpoints, err := mgmt.ParseEndpoints("127.0.0.1:7001,2=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@127.0.0.1:7002")
	if err != nil {
		panic(err)
	}
	for _, e := range endpoints {
		fmt.Println(e.ID, e.Addr, len(e.Key))
	}
	// Output:
	// 0 127.0.0.1:7001 0
	// 2 127.0.0.1:7002 32
}
