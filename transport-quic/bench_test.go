package transportquic

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// countingHandler counts delivered messages and drains snapshots.
type countingHandler struct {
	messages    atomic.Int64
	unreachable atomic.Int64
}

func (h *countingHandler) HandleMessages(msgs []*raftpb.Message) { h.messages.Add(int64(len(msgs))) }
func (h *countingHandler) ReportUnreachable(uint64)              { h.unreachable.Add(1) }
func (h *countingHandler) HandleSnapshot(_ context.Context, _ *raftpb.Message, body io.Reader) error {
	_, err := io.Copy(io.Discard, body)
	return err
}

func benchPair(b *testing.B) (a, c *Transport, ha, hc *countingHandler) {
	a, c = newPlainTransport(b, 1), newPlainTransport(b, 2)
	link(b, a, c)
	ha, hc = &countingHandler{}, &countingHandler{}
	if err := a.Start(ha); err != nil {
		b.Fatal(err)
	}
	if err := c.Start(hc); err != nil {
		b.Fatal(err)
	}
	return a, c, ha, hc
}

// BenchmarkSendMessages measures raft message throughput between two nodes
// over loopback QUIC: MsgApp messages with one entry each, handed to Send in
// batches, with at most window messages in flight so nothing is dropped.
func BenchmarkSendMessages(b *testing.B) {
	for _, entry := range []int{64, 4 << 10} {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("entry=%dB/batch=%d", entry, batch), func(b *testing.B) {
				a, _, ha, hc := benchPair(b)
				payload := transporttest.RandomBytes(1, entry)
				const window = 2048
				msgs := make([]*raftpb.Message, batch)
				b.SetBytes(int64(entry))
				b.ReportAllocs()
				b.ResetTimer()
				sent := 0
				for sent < b.N {
					for sent-int(hc.messages.Load()) > window-batch {
						time.Sleep(20 * time.Microsecond)
					}
					n := min(batch, b.N-sent)
					for i := range n {
						msgs[i] = transporttest.NewMessage(1, 2, uint64(sent+i+1), payload)
					}
					a.Send(msgs[:n])
					sent += n
				}
				deadline := time.Now().Add(time.Minute)
				for int(hc.messages.Load()) < b.N {
					if time.Now().After(deadline) {
						b.Fatalf("delivered %d of %d messages (%d unreachable reports)", hc.messages.Load(), b.N, ha.unreachable.Load())
					}
					time.Sleep(50 * time.Microsecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkSnapshot measures snapshot streaming: 64 MiB per operation, the
// receiver reading it to the end.
func BenchmarkSnapshot(b *testing.B) {
	const size = 64 << 20
	a, _, _, _ := benchPair(b)
	body := transporttest.RandomBytes(2, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		msg := transporttest.NewSnapshotMessage(1, 2, uint64(i+1))
		if err := a.SendSnapshot(b.Context(), msg, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}
