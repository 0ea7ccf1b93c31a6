package transportquic_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// printer is a minimal raftcore.Handler.
type printer struct{ got chan *raftpb.Message }

func (p printer) HandleMessages(msgs []*raftpb.Message) {
	for _, m := range msgs {
		p.got <- m
	}
}

func (printer) HandleSnapshot(context.Context, *raftpb.Message, io.Reader) error { return nil }
func (printer) ReportUnreachable(uint64)                                         {}

func Example() {
	newNode := func(id uint64) *transportquic.Transport {
		key, err := transportquic.GenerateIdentity()
		if err != nil {
			panic(err)
		}
		tr, err := transportquic.New(transportquic.Config{NodeID: id, Identity: key, ListenAddr: "127.0.0.1:0"})
		if err != nil {
			panic(err)
		}
		return tr
	}
	a, b := newNode(1), newNode(2)
	defer a.Close()
	defer b.Close()

	// Each node pins the other's key; the membership is the trust list.
	_ = a.AddPeer(b.Self())
	_ = b.AddPeer(a.Self())
	inbox := printer{got: make(chan *raftpb.Message, 1)}
	_ = a.Start(printer{got: make(chan *raftpb.Message, 1)})
	_ = b.Start(inbox)

	a.Send([]*raftpb.Message{{Type: new(raftpb.MsgHeartbeat), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(7))}})
	select {
	case m := <-inbox.got:
		fmt.Println(m.GetType(), "from", m.GetFrom(), "term", m.GetTerm())
	case <-time.After(10 * time.Second):
		fmt.Println("timed out")
	}
	// Output: MsgHeartbeat from 1 term 7
}

func ExampleFormatKey() {
	key, err := transportquic.ParseKey("aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(key), transportquic.FormatKey(key) == "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq")
	// Output: 32 true
}

func ExampleConfig_Validate() {
	cfg := transportquic.Config{NodeID: 1}
	fmt.Println(cfg.Validate())
	// Output: transportquic: invalid config: Identity must be an ed25519 private key (see LoadOrCreateIdentity)
}

var _ raftcore.Handler = printer{}
