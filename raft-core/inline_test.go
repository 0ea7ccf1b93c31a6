package raftcore

import (
	"context"
	"io"
	"sync"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// recordingTransport keeps what the node sends and nothing else.
type recordingTransport struct {
	mu   sync.Mutex
	sent []*raftpb.Message
}

func (t *recordingTransport) Start(Handler) error { return nil }
func (t *recordingTransport) Send(msgs []*raftpb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent = append(t.sent, msgs...)
}
func (t *recordingTransport) SendSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return nil
}
func (t *recordingTransport) AddPeer(Peer) error { return nil }
func (t *recordingTransport) RemovePeer(uint64)  {}
func (t *recordingTransport) Close() error       { return nil }

type nopMachine struct{}

func (nopMachine) Apply(uint64, []byte) struct{} { return struct{}{} }
func (nopMachine) Snapshot(io.Writer) error      { return nil }
func (nopMachine) Restore(io.Reader) error       { return nil }

type bytesCodec struct{}

func (bytesCodec) Encode(b []byte) ([]byte, error) { return b, nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// TestInboundMessagesNeverOvertakeQueuedOnes: messages that arrive while
// the raft role is busy are queued for the raft goroutine; later ones are
// stepped on the transport's goroutine only once nothing is queued any
// more, so raft sees them in the order they arrived. The runtime's
// goroutines are not started: the test plays the raft goroutine.
func TestInboundMessagesNeverOvertakeQueuedOnes(t *testing.T) {
	cfg := Config{
		NodeID:        1,
		Peers:         []Peer{{ID: 1}, {ID: 2}, {ID: 3}},
		Preset:        Testing,
		Transport:     &recordingTransport{},
		LogStore:      NewMemoryLogStore(),
		SnapshotStore: NewMemorySnapshotStore(),
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg = cfg.withDefaults()
	e, err := newEngine(cfg, typedMachine[[]byte, struct{}]{sm: nopMachine{}, codec: bytesCodec{}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := newRuntime(e)
	heartbeat := func(commit uint64) []*raftpb.Message {
		return []*raftpb.Message{{Type: raftpb.MessageType_MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)),
			Term: new(uint64(2)), Commit: new(commit)}}
	}
	queued := func() int { return len(r.recvc) }

	e.raftMu.Lock() // the raft goroutine is busy
	r.HandleMessages(heartbeat(0))
	e.raftMu.Unlock()
	if queued() != 1 {
		t.Fatalf("%d batches queued while raft was busy, want 1", queued())
	}
	// Raft is free again, but the first batch still waits for the raft
	// goroutine: the second must queue behind it.
	r.HandleMessages(heartbeat(0))
	if queued() != 2 {
		t.Fatalf("%d batches queued behind a waiting one, want 2: a later batch overtook it", queued())
	}
	// The raft goroutine steps what waits; then a batch is stepped at once.
	r.withRaft(func() {})
	if queued() != 0 || r.inbound.Load() != 0 {
		t.Fatalf("%d batches (%d counted) left after the raft goroutine drained them", queued(), r.inbound.Load())
	}
	r.HandleMessages(heartbeat(0))
	if queued() != 0 {
		t.Fatal("a batch was queued although raft was idle and nothing waited")
	}
	if e.leader.Load() != 2 {
		t.Fatalf("node follows %d after the heartbeats, want 2", e.leader.Load())
	}
}
