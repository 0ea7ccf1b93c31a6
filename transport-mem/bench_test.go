package transportmem_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// countingHandler counts deliveries and drops without keeping messages.
type countingHandler struct {
	received    atomic.Int64
	unreachable atomic.Int64
}

func (h *countingHandler) HandleMessages(msgs []*raftpb.Message) { h.received.Add(int64(len(msgs))) }
func (h *countingHandler) HandleSnapshot(_ context.Context, _ *raftpb.Message, body io.Reader) error {
	_, err := io.Copy(io.Discard, body)
	return err
}
func (h *countingHandler) ReportUnreachable(uint64) { h.unreachable.Add(1) }

// benchPair returns two started transports, 1 and 2, that know each other.
func benchPair(b *testing.B, cfg transportmem.NetworkConfig) (sender, receiver *transportmem.Transport, sh, rh *countingHandler) {
	b.Helper()
	net, err := transportmem.NewNetwork(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sender, _ = net.Transport(raftcore.Peer{ID: 1})
	receiver, _ = net.Transport(raftcore.Peer{ID: 2})
	b.Cleanup(func() {
		_ = sender.Close()
		_ = receiver.Close()
	})
	sh, rh = &countingHandler{}, &countingHandler{}
	for _, err := range []error{
		sender.AddPeer(receiver.Peer()), receiver.AddPeer(sender.Peer()),
		sender.Start(sh), receiver.Start(rh),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	return sender, receiver, sh, rh
}

// BenchmarkSendOneLink measures messages per second through one link with
// 64-byte MsgApp messages. The sender keeps at most half a queue in flight so
// that what is measured is delivery, not drops.
func BenchmarkSendOneLink(b *testing.B) {
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sender, _, sh, rh := benchPair(b, transportmem.NetworkConfig{})
			window := int64(transportmem.DefaultQueueSize / 2)
			msgs := make([]*raftpb.Message, batch)
			for i := range msgs {
				msgs[i] = transporttest.NewMessage(1, 2, uint64(i), make([]byte, 64))
			}
			b.ReportAllocs()
			b.ResetTimer()
			sent := int64(0)
			for sent < int64(b.N) {
				for sent-rh.received.Load() > window {
					runtime.Gosched()
				}
				n := min(batch, b.N-int(sent))
				sender.Send(msgs[:n])
				sent += int64(n)
			}
			for rh.received.Load() < sent {
				runtime.Gosched()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if n := sh.unreachable.Load(); n > 0 {
				b.Fatalf("%d drops reported; the window should prevent them", n)
			}
		})
	}
}

// BenchmarkSendSnapshot measures snapshot streaming through the pipe.
func BenchmarkSendSnapshot(b *testing.B) {
	sender, _, _, _ := benchPair(b, transportmem.NetworkConfig{})
	body := transporttest.RandomBytes(1, 8<<20)
	msg := transporttest.NewSnapshotMessage(1, 2, 10)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := sender.SendSnapshot(b.Context(), msg, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream measures one-way throughput of a stream in 32 KiB writes.
func BenchmarkStream(b *testing.B) {
	sender, receiver, _, _ := benchPair(b, transportmem.NetworkConfig{})
	err := receiver.HandleStream(raftcore.ProtocolMgmt, func(_ context.Context, s raftcore.Stream) {
		defer s.Close()
		_, _ = io.Copy(io.Discard, s)
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err := sender.OpenStream(b.Context(), receiver.Peer(), raftcore.ProtocolMgmt)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	chunk := make([]byte, 32<<10)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}
