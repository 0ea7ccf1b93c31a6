package transportmem_test

import (
	"context"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// printer is a raftcore.Handler that prints what it receives.
type printer struct {
	name string
	done chan struct{}
}

func (p printer) HandleMessages(msgs []*raftpb.Message) {
	for _, m := range msgs {
		fmt.Printf("%s got %v from %d: %s\n", p.name, m.GetType(), m.GetFrom(), m.Entries[0].Data)
	}
	p.done <- struct{}{}
}

func (p printer) HandleSnapshot(context.Context, *raftpb.Message, io.Reader) error { return nil }
func (p printer) ReportUnreachable(id uint64)                                      {}

func Example() {
	net, err := transportmem.NewNetwork(transportmem.NetworkConfig{Seed: 1})
	if err != nil {
		panic(err)
	}
	alice, _ := net.Transport(raftcore.Peer{ID: 1, Addr: "alice"})
	bob, _ := net.Transport(raftcore.Peer{ID: 2, Addr: "bob"})
	_ = alice.AddPeer(bob.Peer())
	_ = bob.AddPeer(alice.Peer())
	received := make(chan struct{}, 1)
	_ = alice.Start(printer{name: "alice", done: make(chan struct{}, 1)})
	_ = bob.Start(printer{name: "bob", done: received})

	alice.Send([]*raftpb.Message{{
		Type:    new(raftpb.MsgApp),
		From:    new(uint64(1)),
		To:      new(uint64(2)),
		Entries: []*raftpb.Entry{{Data: []byte("hello")}},
	}})
	<-received

	// While bob is isolated, what alice sends him is dropped and counted.
	net.Isolate(2)
	alice.Send([]*raftpb.Message{{To: new(uint64(2)), Entries: []*raftpb.Entry{{Data: []byte("lost")}}}})
	net.Heal()

	// Close waits for deliveries in progress, so the counters are final.
	_ = alice.Close()
	_ = bob.Close()
	fmt.Printf("%+v\n", net.LinkStats(1, 2))
	// Output:
	// bob got MsgApp from 1: hello
	// {Sent:2 Duplicated:0 Delivered:1 Dropped:1}
}
