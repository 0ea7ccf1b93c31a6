package transporttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Assumptions the suite makes about every transport, beyond the contract
// written on raftcore.Transport:
//
//   - a per-peer queue holds at least MinQueueMessages small messages, so a
//     receiver that keeps up never sees drops in the ordering tests;
//   - with a receiver whose handler is stuck, the sender starts dropping (and
//     reporting) before MaxBufferedBytes of messages are in flight to it.
const (
	MinQueueMessages = 256
	MaxBufferedBytes = 256 << 20
)

// Run checks every behaviour of the raftcore.Transport contract on the
// transports made by newCluster, and the raftcore.StreamTransport contract
// when they implement it. Each subtest creates its own cluster.
func Run(t *testing.T, newCluster NewCluster) {
	tests := []struct {
		name string
		run  func(t *testing.T, newCluster NewCluster)
	}{
		{"DeliversMessagesToTheirPeerWithFieldsIntact", testDeliversMessagesIntact},
		{"SplitsMixedBatchByPeer", testSplitsMixedBatch},
		{"KeepsOrderPerLink", testKeepsOrderPerLink},
		{"SendDoesNotBlockOnStuckReceiver", testSendDoesNotBlock},
		{"RemovePeerStopsDelivery", testRemovePeerStopsDelivery},
		{"AddPeerTwiceIsNoOp", testAddPeerTwiceIsNoOp},
		{"SendToUnknownPeerIsDroppedAndReported", testSendToUnknownPeer},
		{"SendToClosedPeerIsReportedAndNotDelivered", testSendToClosedPeer},
		{"SendSnapshotStreamsBody", testSendSnapshotStreamsBody},
		{"SendSnapshotReturnsRejection", testSendSnapshotRejected},
		{"SendSnapshotHonoursContext", testSendSnapshotContext},
		{"SendSnapshotToUnknownPeerFails", testSendSnapshotUnknownPeer},
		{"CloseIsIdempotentAndLaterCallsFailCleanly", testClose},
		{"ConcurrentSendIsRaceFree", testConcurrentSend},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newCluster) })
	}
	t.Run("Streams", func(t *testing.T) { runStreams(t, newCluster) })
}

func testDeliversMessagesIntact(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 3)
	var sent []*raftpb.Message
	for i := range uint64(5) {
		sent = append(sent, FullMessage(1, 2, i), FullMessage(1, 3, 100+i))
	}
	want := cloneAll(sent)
	c.Node(1).Send(sent)
	for _, to := range []uint64{2, 3} {
		rec := c.Recorder(to)
		rec.Wait(t, WaitTimeout, "5 messages", func(s *RecorderState) bool { return len(s.Messages()) >= 5 })
		got := rec.Messages()
		wantTo := filterTo(want, to)
		if len(got) != len(wantTo) {
			t.Fatalf("node %d received %d messages, want %d", to, len(got), len(wantTo))
		}
		for i := range got {
			if !proto.Equal(got[i], wantTo[i]) {
				t.Errorf("node %d message %d:\n got %v\nwant %v", to, i, got[i], wantTo[i])
			}
			if shareMemory(got[i], filterTo(sent, to)[i]) {
				t.Errorf("node %d message %d shares memory with the sender's message", to, i)
			}
		}
	}
	for i := range sent {
		if !proto.Equal(sent[i], want[i]) {
			t.Errorf("Send modified message %d: got %v, want %v", i, sent[i], want[i])
		}
	}
	// A message the other way is a barrier: the sender never received its own.
	c.Node(2).Send([]*raftpb.Message{NewMessage(2, 1, 1, nil)})
	c.Recorder(1).Wait(t, WaitTimeout, "message from node 2", func(s *RecorderState) bool { return s.HasIndex(2, 1) })
	if got := c.Recorder(1).Messages(); len(got) != 1 {
		t.Errorf("node 1 received %d messages, want only the one from node 2", len(got))
	}
}

func testSplitsMixedBatch(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 3)
	var batch []*raftpb.Message
	for i := uint64(1); i <= 40; i++ {
		batch = append(batch, NewMessage(1, 2+i%2, i, []byte{byte(i)}))
	}
	c.Node(1).Send(batch)
	for _, to := range []uint64{2, 3} {
		c.Recorder(to).Wait(t, WaitTimeout, "20 messages", func(s *RecorderState) bool { return len(s.Messages()) >= 20 })
		got := c.Recorder(to).Messages()
		if len(got) != 20 {
			t.Fatalf("node %d received %d messages, want 20", to, len(got))
		}
		for i, m := range got {
			// Even indices went to node 2, odd ones to node 3.
			wantIndex := uint64(2*i) + 2
			if to == 3 {
				wantIndex = uint64(2*i) + 1
			}
			if m.GetTo() != to || m.GetIndex() != wantIndex {
				t.Errorf("node %d message %d: to %d index %d, want to %d index %d", to, i, m.GetTo(), m.GetIndex(), to, wantIndex)
			}
		}
	}
}

func testKeepsOrderPerLink(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	const rounds, perRound = 16, 64
	payload := make([]byte, 64)
	index := uint64(0)
	for range rounds {
		for range perRound {
			index++
			c.Node(1).Send([]*raftpb.Message{NewMessage(1, 2, index, payload)})
		}
		last := index
		c.Recorder(2).Wait(t, WaitTimeout, "last message of the round", func(s *RecorderState) bool { return s.HasIndex(1, last) })
		if n := c.Recorder(1).Unreachable(2); n > 0 {
			t.Fatalf("node 2 reported unreachable %d times although it keeps up with %d queued messages", n, perRound)
		}
	}
	got := c.Recorder(2).Messages()
	if len(got) != rounds*perRound {
		t.Fatalf("received %d messages, want %d", len(got), rounds*perRound)
	}
	for i, m := range got {
		if m.GetIndex() != uint64(i+1) {
			t.Fatalf("message %d has index %d: link reordered, lost or duplicated messages", i, m.GetIndex())
		}
	}
}

func testSendDoesNotBlock(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	release := c.Recorder(2).Block()
	payload := RandomBytes(1, 16<<10)
	const batchSize = 16
	type result struct {
		sent     uint64
		reported bool
	}
	done := make(chan result, 1)
	go func() {
		var index uint64
		for index*uint64(len(payload)) < MaxBufferedBytes {
			batch := make([]*raftpb.Message, batchSize)
			for i := range batch {
				index++
				batch[i] = NewMessage(1, 2, index, payload)
			}
			c.Node(1).Send(batch)
			if c.Recorder(1).Unreachable(2) > 0 {
				done <- result{index, true}
				return
			}
		}
		done <- result{index, false}
	}()
	res := WaitClosed(t, done, LongWaitTimeout, "Send while the receiver's handler is stuck (Send blocks?)")
	if !res.reported {
		t.Fatalf("sent %d messages (%d MiB) to a stuck receiver without a ReportUnreachable: the send queue is not bounded",
			res.sent, res.sent*uint64(len(payload))>>20)
	}
	release()

	// Once the receiver drains, the link works again: raft retransmits, so
	// resend a marker until one arrives. Each retry uses a new index, so a
	// slow drain that delivers an earlier marker too is not a duplicate.
	deadline := time.Now().Add(LongWaitTimeout)
	for marker := res.sent + 1; ; marker++ {
		c.Node(1).Send([]*raftpb.Message{NewMessage(1, 2, marker, nil)})
		err := c.Recorder(2).WaitContext(t.Context(), time.Second, func(s *RecorderState) bool { return s.HasIndex(1, marker) })
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("link did not recover after the receiver was released: %v", err)
		}
	}
	assertIncreasing(t, c.Recorder(2).Messages(), 1)
}

func testRemovePeerStopsDelivery(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 3)
	deliver(t, c, 1, 2, 1, "message before RemovePeer")

	c.Node(1).RemovePeer(2)
	c.Node(1).RemovePeer(2)  // removing twice is harmless
	c.Node(1).RemovePeer(42) // and so is removing a peer never added
	c.Node(1).Send([]*raftpb.Message{NewMessage(1, 2, 2, nil)})
	c.Recorder(1).Wait(t, WaitTimeout, "report of the removed peer", func(s *RecorderState) bool { return s.Unreachable(2) > 0 })
	deliver(t, c, 1, 3, 3, "message to a remaining peer")
	if c.Recorder(2).WaitContext(t.Context(), 0, func(s *RecorderState) bool { return s.HasIndex(1, 2) }) == nil {
		t.Fatal("the removed peer received the message sent after RemovePeer")
	}

	if err := c.Node(1).AddPeer(c.Peer(2)); err != nil {
		t.Fatalf("AddPeer after RemovePeer: %v", err)
	}
	deliver(t, c, 1, 2, 4, "message after adding the peer back")
}

// deliver sends a message of index from node from to node to until to has
// it. A transport may drop a message, for instance one sent while its
// connection is being set up (raft retransmits); a test that needs one
// delivered sends it again, as raft would.
func deliver(t *testing.T, c *Cluster, from, to, index uint64, what string) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		c.Node(from).Send([]*raftpb.Message{NewMessage(from, to, index, nil)})
		err := c.Recorder(to).WaitContext(t.Context(), time.Second, func(s *RecorderState) bool { return s.HasIndex(from, index) })
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not delivered in %v of resending", what, WaitTimeout)
		}
	}
}

func testAddPeerTwiceIsNoOp(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	for range 2 {
		if err := c.Node(1).AddPeer(c.Peer(2)); err != nil {
			t.Fatalf("AddPeer of a known peer: %v", err)
		}
	}
	for i := uint64(1); i <= 10; i++ {
		c.Node(1).Send([]*raftpb.Message{NewMessage(1, 2, i, nil)})
	}
	c.Recorder(2).Wait(t, WaitTimeout, "10 messages", func(s *RecorderState) bool { return s.HasIndex(1, 10) })
	got := c.Recorder(2).Messages()
	if len(got) != 10 {
		t.Fatalf("received %d messages, want 10", len(got))
	}
	assertIncreasing(t, got, 1)
}

func testSendToUnknownPeer(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	const unknown = 42
	c.Node(1).Send([]*raftpb.Message{NewMessage(1, unknown, 1, nil), NewMessage(1, 2, 2, nil)})
	c.Recorder(1).Wait(t, WaitTimeout, "report of the unknown peer", func(s *RecorderState) bool { return s.Unreachable(unknown) > 0 })
	c.Recorder(2).Wait(t, WaitTimeout, "message to the known peer of the same batch", func(s *RecorderState) bool { return s.HasIndex(1, 2) })
}

func testSendToClosedPeer(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 3)
	if err := c.Node(3).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	callsAtClose := c.Recorder(3).Calls()

	// A peer that is down can still be added: members are learnt from the
	// log, whether or not they are up.
	c.Node(2).RemovePeer(3)
	if err := c.Node(2).AddPeer(c.Peer(3)); err != nil {
		t.Fatalf("AddPeer of a peer that is down: %v", err)
	}
	for _, from := range []uint64{1, 2} {
		sendUntil(t, c, from, 3, LongWaitTimeout, func(s *RecorderState) bool { return s.Unreachable(3) > 0 })
	}
	if calls := c.Recorder(3).Calls(); calls != callsAtClose {
		t.Errorf("closed transport's handler was called %d times after Close", calls-callsAtClose)
	}
}

// sendUntil sends messages from one node to another, once a second, until
// the sender's Recorder satisfies cond.
func sendUntil(t *testing.T, c *Cluster, from, to uint64, timeout time.Duration, cond func(*RecorderState) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for index := uint64(1); ; index++ {
		c.Node(from).Send([]*raftpb.Message{NewMessage(from, to, index, nil)})
		err := c.Recorder(from).WaitContext(t.Context(), time.Second, cond)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d sending to %d: %v", from, to, err)
		}
	}
}

func testSendSnapshotStreamsBody(t *testing.T, newCluster NewCluster) {
	tests := []struct {
		name string
		size int
	}{
		{"Empty", 0},
		{"OneByte", 1},
		{"EightMiB", 8 << 20},
	}
	c := StartCluster(t, newCluster, 2)
	seed := NewSeed(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := RandomBytes(seed+uint64(i), tt.size)
			msg := NewSnapshotMessage(1, 2, uint64(100+i))
			want := proto.Clone(msg)
			ctx, cancel := context.WithTimeout(t.Context(), LongWaitTimeout)
			defer cancel()
			if err := c.Node(1).SendSnapshot(ctx, msg, OpaqueReader(bytes.NewReader(body))); err != nil {
				t.Fatalf("SendSnapshot: %v", err)
			}
			snaps := c.Recorder(2).Snapshots()
			if len(snaps) != i+1 {
				t.Fatalf("receiver accepted %d snapshots, want %d", len(snaps), i+1)
			}
			got := snaps[i]
			if !proto.Equal(got.Msg, want) {
				t.Errorf("snapshot message: got %v, want %v", got.Msg, want)
			}
			if got.Size != int64(len(body)) || got.SHA256 != sha256.Sum256(body) {
				t.Errorf("snapshot body: got %d bytes with sha256 %x, want %d bytes with sha256 %x",
					got.Size, got.SHA256, len(body), sha256.Sum256(body))
			}
			if !proto.Equal(msg, want) {
				t.Errorf("SendSnapshot modified its message")
			}
		})
	}
}

var errRejected = errors.New("transporttest: snapshot rejected on purpose")

func testSendSnapshotRejected(t *testing.T, newCluster NewCluster) {
	tests := []struct {
		name     string
		readBody bool
	}{
		{"AfterReadingBody", true},
		{"WithoutReadingBody", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := StartCluster(t, newCluster, 2)
			c.Recorder(2).OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
				if tt.readBody {
					if _, err := io.Copy(io.Discard, body); err != nil {
						return err
					}
				}
				return errRejected
			})
			ctx, cancel := context.WithTimeout(t.Context(), LongWaitTimeout)
			defer cancel()
			body := OpaqueReader(bytes.NewReader(RandomBytes(2, 1<<20)))
			err := c.Node(1).SendSnapshot(ctx, NewSnapshotMessage(1, 2, 10), body)
			if err == nil {
				t.Fatal("SendSnapshot returned nil although the receiver rejected the snapshot")
			}
			if ctx.Err() != nil {
				t.Fatalf("SendSnapshot returned only when its context expired: %v", err)
			}
		})
	}
}

// endlessReader yields zeros forever.
type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func testSendSnapshotContext(t *testing.T, newCluster NewCluster) {
	t.Run("CancelledWhileReceiverReads", func(t *testing.T) {
		c := StartCluster(t, newCluster, 2)
		started := make(chan struct{})
		handlerDone := make(chan error, 1)
		c.Recorder(2).OnSnapshot(func(ctx context.Context, _ *raftpb.Message, body io.Reader) error {
			buf := make([]byte, 32<<10)
			var read int
			for {
				n, err := body.Read(buf)
				if read < 1<<20 && read+n >= 1<<20 {
					close(started)
				}
				read += n
				if err == nil {
					err = ctx.Err()
				}
				if err != nil {
					handlerDone <- err
					return err
				}
			}
		})
		ctx, cancel := context.WithCancel(t.Context())
		sendDone := make(chan error, 1)
		go func() { sendDone <- c.Node(1).SendSnapshot(ctx, NewSnapshotMessage(1, 2, 10), endlessReader{}) }()
		WaitClosed(t, started, LongWaitTimeout, "receiver reading the endless snapshot")
		cancel()
		err := WaitClosed(t, sendDone, WaitTimeout, "SendSnapshot after cancelling its context")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SendSnapshot returned %v, want an error wrapping context.Canceled", err)
		}
		if err := WaitClosed(t, handlerDone, WaitTimeout, "receiver's HandleSnapshot after the sender gave up"); err == nil {
			t.Errorf("receiver's body ended without error although the sender gave up")
		}
	})
	t.Run("CancelledWhileReceiverStalls", func(t *testing.T) {
		c := StartCluster(t, newCluster, 2)
		entered := make(chan struct{})
		unstall := make(chan struct{})
		defer close(unstall)
		c.Recorder(2).OnSnapshot(func(ctx context.Context, _ *raftpb.Message, body io.Reader) error {
			close(entered)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-unstall:
				return errRejected
			}
		})
		ctx, cancel := context.WithCancel(t.Context())
		sendDone := make(chan error, 1)
		go func() {
			sendDone <- c.Node(1).SendSnapshot(ctx, NewSnapshotMessage(1, 2, 10), bytes.NewReader(RandomBytes(3, 4<<20)))
		}()
		WaitClosed(t, entered, LongWaitTimeout, "receiver's HandleSnapshot")
		cancel()
		err := WaitClosed(t, sendDone, WaitTimeout, "SendSnapshot after cancelling its context")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SendSnapshot returned %v, want an error wrapping context.Canceled", err)
		}
	})
	t.Run("AlreadyCancelled", func(t *testing.T) {
		c := StartCluster(t, newCluster, 2)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan error, 1)
		go func() { done <- c.Node(1).SendSnapshot(ctx, NewSnapshotMessage(1, 2, 10), bytes.NewReader(nil)) }()
		if err := WaitClosed(t, done, WaitTimeout, "SendSnapshot with a cancelled context"); err == nil {
			t.Error("SendSnapshot with a cancelled context returned nil")
		}
	})
}

func testSendSnapshotUnknownPeer(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	ctx, cancel := context.WithTimeout(t.Context(), LongWaitTimeout)
	defer cancel()
	err := c.Node(1).SendSnapshot(ctx, NewSnapshotMessage(1, 42, 10), bytes.NewReader([]byte("data")))
	if err == nil {
		t.Fatal("SendSnapshot to an unknown peer returned nil")
	}
}

func testClose(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 2)
	tr := c.Node(1)
	if err := tr.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := tr.Close(); err != nil && !errors.Is(err, raftcore.ErrClosed) {
		t.Errorf("second Close returned %v, want nil or ErrClosed", err)
	}
	if err := tr.AddPeer(raftcore.Peer{ID: 7, Addr: "nowhere"}); err != nil && !errors.Is(err, raftcore.ErrClosed) {
		t.Errorf("AddPeer after Close returned %v, want nil or ErrClosed", err)
	}
	tr.Send([]*raftpb.Message{NewMessage(1, 2, 1, nil)})
	tr.RemovePeer(2)
	if err := tr.Start(NewRecorder()); err == nil {
		t.Error("Start after Close returned nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), WaitTimeout)
	defer cancel()
	if err := tr.SendSnapshot(ctx, NewSnapshotMessage(1, 2, 10), bytes.NewReader(nil)); !errors.Is(err, raftcore.ErrClosed) {
		t.Errorf("SendSnapshot after Close returned %v, want ErrClosed", err)
	}
	if st, ok := tr.(raftcore.StreamTransport); ok {
		if err := st.HandleStream(raftcore.ProtocolMgmt, func(context.Context, raftcore.Stream) {}); err != nil && !errors.Is(err, raftcore.ErrClosed) {
			t.Errorf("HandleStream after Close returned %v, want nil or ErrClosed", err)
		}
		s, err := st.OpenStream(ctx, c.Peer(2), raftcore.ProtocolMgmt)
		if !errors.Is(err, raftcore.ErrClosed) {
			t.Errorf("OpenStream after Close returned %v, want ErrClosed", err)
		}
		if s != nil {
			_ = s.Close()
		}
	}
}

func testConcurrentSend(t *testing.T, newCluster NewCluster) {
	c := StartCluster(t, newCluster, 3)
	const senders, perSender = 8, 50
	var wg sync.WaitGroup
	for g := range uint64(senders) {
		wg.Go(func() {
			for i := range uint64(perSender) {
				to := 2 + i%2
				c.Node(1).Send([]*raftpb.Message{NewMessage(1, to, g<<32|i, []byte{byte(i)})})
			}
		})
	}
	wg.Go(func() {
		for range perSender {
			_ = c.Node(1).AddPeer(c.Peer(2))
			_ = c.Node(1).AddPeer(c.Peer(3))
		}
	})
	wg.Go(func() {
		// Messages flowing the other way at the same time.
		for i := range uint64(perSender) {
			c.Node(2).Send([]*raftpb.Message{NewMessage(2, 1, i, nil)})
		}
	})
	wg.Wait()
	const perPeer = senders * perSender / 2
	for _, to := range []uint64{2, 3} {
		c.Recorder(to).Wait(t, WaitTimeout, "every message", func(s *RecorderState) bool { return len(s.Messages()) >= perPeer })
	}
	c.Recorder(1).Wait(t, WaitTimeout, "messages sent the other way", func(s *RecorderState) bool { return len(s.Messages()) >= perSender })
	for _, to := range []uint64{2, 3} {
		got := c.Recorder(to).Messages()
		if len(got) != perPeer {
			t.Fatalf("node %d received %d messages, want %d", to, len(got), perPeer)
		}
		last := make(map[uint64]uint64)
		seen := make(map[uint64]bool)
		for _, m := range got {
			sender, i := m.GetIndex()>>32, m.GetIndex()&(1<<32-1)
			if seen[sender] && i <= last[sender] {
				t.Fatalf("node %d: messages of one sending goroutine reordered (%d after %d)", to, i, last[sender])
			}
			seen[sender], last[sender] = true, i
		}
	}
}

func cloneAll(msgs []*raftpb.Message) []*raftpb.Message {
	out := make([]*raftpb.Message, len(msgs))
	for i, m := range msgs {
		out[i] = proto.CloneOf(m)
	}
	return out
}

func filterTo(msgs []*raftpb.Message, to uint64) []*raftpb.Message {
	var out []*raftpb.Message
	for _, m := range msgs {
		if m.GetTo() == to {
			out = append(out, m)
		}
	}
	return out
}

// shareMemory reports whether a received message aliases the sent one: the
// same message, entry or byte slice.
func shareMemory(got, sent *raftpb.Message) bool {
	if got == sent {
		return true
	}
	if len(got.Context) > 0 && len(sent.Context) > 0 && &got.Context[0] == &sent.Context[0] {
		return true
	}
	for i := range min(len(got.Entries), len(sent.Entries)) {
		g, s := got.Entries[i], sent.Entries[i]
		if g == s || len(g.Data) > 0 && len(s.Data) > 0 && &g.Data[0] == &s.Data[0] {
			return true
		}
	}
	return false
}

// assertIncreasing checks that the messages from `from` have strictly
// increasing indices: gaps (drops) are allowed, reordering and duplicates are
// not.
func assertIncreasing(t *testing.T, msgs []*raftpb.Message, from uint64) {
	t.Helper()
	var last uint64
	for i, m := range msgs {
		if m.GetFrom() != from {
			continue
		}
		if m.GetIndex() <= last {
			t.Fatalf("message %d has index %d after %d: reordered or duplicated", i, m.GetIndex(), last)
		}
		last = m.GetIndex()
	}
}

// NewSeed returns a seed for random test data, logged if the test fails so
// that the run can be replayed.
func NewSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random data seed: %d", seed)
		}
	})
	return seed
}
