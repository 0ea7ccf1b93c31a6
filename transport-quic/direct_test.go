package transportquic

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// orderHandler records the index of every delivered message, in order.
type orderHandler struct {
	mu      sync.Mutex
	changed *sync.Cond
	indexes []uint64
}

func newOrderHandler() *orderHandler {
	h := &orderHandler{}
	h.changed = sync.NewCond(&h.mu)
	return h
}

func (h *orderHandler) HandleMessages(msgs []*raftpb.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		h.indexes = append(h.indexes, m.GetIndex())
	}
	h.changed.Broadcast()
}
func (h *orderHandler) ReportUnreachable(uint64) {}
func (h *orderHandler) HandleSnapshot(_ context.Context, _ *raftpb.Message, body io.Reader) error {
	_, err := io.Copy(io.Discard, body)
	return err
}

// waitFor waits until n messages were delivered, or ctx ends; it returns
// how many were.
func (h *orderHandler) waitFor(ctx context.Context, n int) int {
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.changed.Broadcast()
	})
	defer stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.indexes) < n && ctx.Err() == nil {
		h.changed.Wait()
	}
	return len(h.indexes)
}

// TestSendKeepsOrderAcrossDirectAndQueuedWrites: messages handed to Send one
// after the other arrive in that order, whether the caller wrote them to
// the stream itself (the stream idle) or the sender goroutine did (the
// stream busy with a large message, or quic-go's flow control full). Large
// and small messages alternate so that both happen.
func TestSendKeepsOrderAcrossDirectAndQueuedWrites(t *testing.T) {
	a, b := newPlainTransport(t, 1), newPlainTransport(t, 2)
	link(t, a, b)
	h := newOrderHandler()
	if err := a.Start(newOrderHandler()); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	small, large := transporttest.RandomBytes(1, 64), transporttest.RandomBytes(2, 48<<10)
	const total, window = 6000, 64
	for i := 1; i <= total; i++ {
		// Every so often the queue drains completely, and the next
		// messages find the stream idle.
		wait := i - window
		if i%100 == 1 {
			wait = i - 1
		}
		if wait > 0 && h.waitFor(ctx, wait) < wait {
			t.Fatalf("only %d of %d messages delivered", h.waitFor(ctx, 0), wait)
		}
		payload := small
		if i%3 == 0 {
			payload = large
		}
		a.Send([]*raftpb.Message{transporttest.NewMessage(1, 2, uint64(i), payload)})
	}
	if got := h.waitFor(ctx, total); got < total {
		t.Fatalf("%d of %d messages delivered (stats %+v)", got, total, a.Stats())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, index := range h.indexes {
		if index != uint64(i+1) {
			t.Fatalf("message %d arrived in position %d: order not kept", index, i+1)
		}
	}
	st := a.Stats()
	if st.MessagesDirect == 0 || st.MessagesDirect == st.MessagesSent {
		t.Fatalf("%d of %d messages written directly: the test needs both paths", st.MessagesDirect, st.MessagesSent)
	}
	t.Logf("%d of %d messages written by the caller", st.MessagesDirect, st.MessagesSent)
}
