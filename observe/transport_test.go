package observe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// fakeTransport records what it is given; SendSnapshot reads the body and
// returns snapErr.
type fakeTransport struct {
	mu      sync.Mutex
	handler raftcore.Handler
	sent    []*raftpb.Message
	snapErr error
	removed []uint64
}

func (f *fakeTransport) Start(h raftcore.Handler) error {
	f.mu.Lock()
	f.handler = h
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) Send(msgs []*raftpb.Message) {
	f.mu.Lock()
	f.sent = append(f.sent, msgs...)
	f.mu.Unlock()
}

func (f *fakeTransport) SendSnapshot(_ context.Context, _ *raftpb.Message, body io.Reader) error {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return err
	}
	return f.snapErr
}

func (f *fakeTransport) AddPeer(raftcore.Peer) error { return nil }
func (f *fakeTransport) RemovePeer(id uint64)        { f.removed = append(f.removed, id) }
func (f *fakeTransport) Close() error                { return nil }

// fakeStreamTransport also carries streams.
type fakeStreamTransport struct {
	fakeTransport
	protos []string
}

func (f *fakeStreamTransport) HandleStream(proto string, _ raftcore.StreamHandler) error {
	f.protos = append(f.protos, proto)
	return nil
}

func (f *fakeStreamTransport) OpenStream(context.Context, raftcore.Peer, string) (raftcore.Stream, error) {
	return nil, errors.New("fake: no streams")
}

type fakeHandler struct {
	mu          sync.Mutex
	unreachable []uint64
}

func (h *fakeHandler) HandleMessages([]*raftpb.Message) {}
func (h *fakeHandler) HandleSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return nil
}

func (h *fakeHandler) ReportUnreachable(id uint64) {
	h.mu.Lock()
	h.unreachable = append(h.unreachable, id)
	h.mu.Unlock()
}

// testMessages returns appends from node 1 to peers 2..n+1, two per peer.
func testMessages(peers int) []*raftpb.Message {
	var msgs []*raftpb.Message
	for to := uint64(2); to < uint64(2+peers); to++ {
		for i := range uint64(2) {
			msgs = append(msgs, &raftpb.Message{
				Type:    raftpb.MessageType_MsgApp.Enum(),
				From:    new(uint64(1)),
				To:      new(to),
				Term:    new(uint64(3)),
				Index:   new(10 + i),
				Entries: []*raftpb.Entry{{Term: new(uint64(3)), Index: new(11 + i), Data: bytes.Repeat([]byte{'x'}, 100)}},
			})
		}
	}
	return msgs
}

func TestInstrumentedTransportCountsBytesPerPeer(t *testing.T) {
	o := newTestObserver(t, Config{})
	inner := &fakeTransport{}
	tr := o.InstrumentTransport(inner)
	msgs := testMessages(2)
	// Interleave destinations: the count must not depend on batching.
	msgs[1], msgs[2] = msgs[2], msgs[1]
	tr.Send(msgs)

	want := map[string]int{}
	for _, m := range msgs {
		want[peerLabel(m.GetTo())] += proto.Size(m)
	}
	for peer, size := range want {
		if got := testutil.ToFloat64(o.m.sentBytes.WithLabelValues(peer)); got != float64(size) {
			t.Errorf("raft_transport_sent_bytes_total{peer=%s} = %v, want %d", peer, got, size)
		}
	}
	if len(inner.sent) != len(msgs) {
		t.Errorf("inner transport got %d messages, want %d", len(inner.sent), len(msgs))
	}
}

func TestInstrumentedTransportCountsSnapshotsAndErrors(t *testing.T) {
	tests := []struct {
		name    string
		snapErr error
		errors  float64
	}{
		{"accepted snapshot", nil, 0},
		{"rejected snapshot", errors.New("receiver refused"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestObserver(t, Config{})
			tr := o.InstrumentTransport(&fakeTransport{snapErr: tt.snapErr})
			msg := &raftpb.Message{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(3))}
			body := bytes.Repeat([]byte{'s'}, 5000)
			err := tr.SendSnapshot(context.Background(), msg, bytes.NewReader(body))
			if !errors.Is(err, tt.snapErr) {
				t.Fatalf("SendSnapshot = %v, want %v", err, tt.snapErr)
			}
			if got, want := testutil.ToFloat64(o.m.sentBytes.WithLabelValues("3")), float64(proto.Size(msg)+len(body)); got != want {
				t.Errorf("sent bytes = %v, want %v (message and body)", got, want)
			}
			if got := testutil.ToFloat64(o.m.transportErrors.WithLabelValues("3", TransportSnapshot)); got != tt.errors {
				t.Errorf("snapshot errors = %v, want %v", got, tt.errors)
			}
		})
	}
}

func TestInstrumentedTransportCountsUnreachablePeers(t *testing.T) {
	o := newTestObserver(t, Config{})
	inner := &fakeTransport{}
	tr := o.InstrumentTransport(inner)
	h := &fakeHandler{}
	if err := tr.Start(h); err != nil {
		t.Fatal(err)
	}
	inner.handler.ReportUnreachable(2)
	inner.handler.ReportUnreachable(2)
	if got := testutil.ToFloat64(o.m.transportErrors.WithLabelValues("2", TransportUnreachable)); got != 2 {
		t.Errorf("unreachable errors = %v, want 2", got)
	}
	if len(h.unreachable) != 2 {
		t.Errorf("engine's handler told of %d unreachable reports, want 2", len(h.unreachable))
	}
}

func TestInstrumentedTransportForgetsRemovedPeers(t *testing.T) {
	o := newTestObserver(t, Config{})
	inner := &fakeTransport{}
	tr := o.InstrumentTransport(inner)
	tr.Send(testMessages(2))
	tr.RemovePeer(2)
	if got := testutil.CollectAndCount(o.m.sentBytes); got != 1 {
		t.Errorf("%d sent-bytes series after removing peer 2, want 1", got)
	}
	if len(inner.removed) != 1 || inner.removed[0] != 2 {
		t.Errorf("inner RemovePeer calls = %v, want [2]", inner.removed)
	}
}

func TestInstrumentedTransportKeepsStreams(t *testing.T) {
	o := newTestObserver(t, Config{})
	if _, ok := o.InstrumentTransport(&fakeTransport{}).(raftcore.StreamTransport); ok {
		t.Error("a plain transport became a StreamTransport")
	}
	inner := &fakeStreamTransport{}
	st, ok := o.InstrumentTransport(inner).(raftcore.StreamTransport)
	if !ok {
		t.Fatal("a StreamTransport lost its streams when instrumented")
	}
	if err := st.HandleStream(raftcore.ProtocolMgmt, func(context.Context, raftcore.Stream) {}); err != nil {
		t.Fatal(err)
	}
	if len(inner.protos) != 1 || inner.protos[0] != raftcore.ProtocolMgmt {
		t.Errorf("inner HandleStream calls = %v", inner.protos)
	}
}
