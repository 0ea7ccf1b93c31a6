package raftcore

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// TestInboundMessagesNeverOvertakeQueuedOnes: messages that arrive while
// the raft role is busy are queued for the raft goroutine; later ones are
// stepped on the transport's goroutine only once nothing is queued any
// more, so raft sees them in the order they arrived. The runtime's
// goroutines are not started: the test plays the raft goroutine.
func TestInboundMessagesNeverOvertakeQueuedOnes(t *testing.T) {
	e := newTestEngine(t, 1, 2, 3)
	r := newRuntime(e)
	heartbeat := func() []*raftpb.Message {
		return []*raftpb.Message{{Type: raftpb.MessageType_MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)),
			Term: new(uint64(2)), Commit: new(uint64(0))}}
	}
	queued := func() int { return len(r.recvc) }

	e.raftMu.Lock() // the raft goroutine is busy
	r.HandleMessages(heartbeat())
	e.raftMu.Unlock()
	if queued() != 1 {
		t.Fatalf("%d batches queued while raft was busy, want 1", queued())
	}
	// Raft is free again, but the first batch still waits for the raft
	// goroutine: the second must queue behind it.
	r.HandleMessages(heartbeat())
	if queued() != 2 {
		t.Fatalf("%d batches queued behind a waiting one, want 2: a later batch overtook it", queued())
	}
	// The raft goroutine steps what waits; then a batch is stepped at once.
	r.withRaft(func() {})
	if queued() != 0 || r.inbound.Load() != 0 {
		t.Fatalf("%d batches (%d counted) left after the raft goroutine drained them", queued(), r.inbound.Load())
	}
	r.HandleMessages(heartbeat())
	if queued() != 0 {
		t.Fatal("a batch was queued although raft was idle and nothing waited")
	}
	if e.leader.Load() != 2 {
		t.Fatalf("node follows %d after the heartbeats, want 2", e.leader.Load())
	}
}
