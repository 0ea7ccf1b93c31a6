package transportquic_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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

func ExampleLoadOrCreateIdentity() {
	dir, err := os.MkdirTemp("", "identity")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "node.key")
	first, err := transportquic.LoadOrCreateIdentity(path) // created, mode 0600
	if err != nil {
		panic(err)
	}
	again, err := transportquic.LoadOrCreateIdentity(path) // loaded
	if err != nil {
		panic(err)
	}
	fmt.Println(first.Equal(again), len(transportquic.FormatKey(transportquic.PublicKey(first))))
	// Output: true 52
}

func ExampleTransport_OpenStream() {
	newNode := func(id uint64) *transportquic.Transport {
		key, _ := transportquic.GenerateIdentity()
		tr, err := transportquic.New(transportquic.Config{NodeID: id, Identity: key})
		if err != nil {
			panic(err)
		}
		return tr
	}
	server, client := newNode(1), newNode(2)
	defer server.Close()
	defer client.Close()
	_ = server.AddPeer(client.Self()) // the server trusts the client's key

	// The server answers management streams with a greeting.
	_ = server.HandleStream(raftcore.ProtocolMgmt, func(_ context.Context, s raftcore.Stream) {
		defer s.Close()
		fmt.Fprintf(s, "hello node %d", s.Remote().ID)
		_ = s.CloseWrite()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.OpenStream(ctx, server.Self(), raftcore.ProtocolMgmt)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	reply, _ := io.ReadAll(s)
	fmt.Println(string(reply))
	// Output: hello node 2
}

func ExampleNewFaultConn() {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	fault := transportquic.NewFaultConn(udp, 1)
	fault.SetLoss(0.10)                  // drop 10% of outgoing packets
	fault.SetDelay(5 * time.Millisecond) // and delay the rest
	key, _ := transportquic.GenerateIdentity()
	tr, err := transportquic.New(transportquic.Config{NodeID: 1, Identity: key, PacketConn: fault})
	if err != nil {
		panic(err)
	}
	defer tr.Close() // closes fault and udp too
	fmt.Println(tr.Addr().String() == udp.LocalAddr().String())
	// Output: true
}
