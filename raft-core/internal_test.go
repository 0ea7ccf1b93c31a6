package raftcore

import (
	"bytes"
	"context"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func TestPeerEncodingRoundTrips(t *testing.T) {
	for _, p := range []Peer{{ID: 1}, {ID: 1 << 40, Addr: "127.0.0.1:7001", Key: []byte{1, 2, 3}}} {
		b, _ := p.MarshalBinary()
		var got Peer
		if err := got.UnmarshalBinary(b); err != nil || got.ID != p.ID || got.Addr != p.Addr || !bytes.Equal(got.Key, p.Key) {
			t.Fatalf("round trip of %+v = %+v, %v", p, got, err)
		}
	}
}

func FuzzPeerUnmarshal(f *testing.F) {
	b, _ := Peer{ID: 7, Addr: "x:1", Key: []byte("key")}.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Peer
		if p.UnmarshalBinary(data) == nil {
			again, _ := p.MarshalBinary()
			var q Peer
			if err := q.UnmarshalBinary(again); err != nil || q.ID != p.ID || q.Addr != p.Addr {
				t.Fatalf("re-encoding %+v failed: %v", p, err)
			}
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, 3, proposalID{epoch: 7, seq: 99}, []byte("cmd")))
	f.Add([]byte{envelopeVersion, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		origin, id, payload, err := parseEnvelope(data)
		if err != nil {
			return
		}
		if got := appendEnvelope(nil, origin, id, payload); len(got) > len(data) {
			t.Fatalf("re-encoded envelope is longer than its input")
		}
	})
}

func FuzzSnapshotHeader(f *testing.F) {
	m := newMembership()
	m.peers[1] = Peer{ID: 1, Addr: "a"}
	m.removed[4] = true
	var buf bytes.Buffer
	_ = m.writeHeader(&buf)
	f.Add(buf.Bytes())
	f.Add(snapshotMagic)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readMembershipHeader(bytes.NewReader(data), &raftpb.ConfState{})
	})
}

func TestSnapshotHeaderRoundTrips(t *testing.T) {
	m := newMembership()
	m.peers[1] = Peer{ID: 1, Addr: "a", Key: []byte{9}}
	m.peers[2] = Peer{ID: 2, Addr: "b"}
	m.removed[3] = true
	var buf bytes.Buffer
	if err := m.writeHeader(&buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("state")
	got, err := readMembershipHeader(&buf, &raftpb.ConfState{Voters: []uint64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.peers) != 2 || got.peers[1].Addr != "a" || !got.removed[3] || !got.isVoter(2) {
		t.Fatalf("header round trip = %+v", got)
	}
	if rest := buf.String(); rest != "state" {
		t.Fatalf("header reader consumed state bytes: left %q", rest)
	}
}

func TestSlowSubscriberLosesEventsAndIsTold(t *testing.T) {
	bus := newEventBus()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := bus.subscribe(ctx)
	for i := range subscriberBuffer + 10 {
		bus.publish(Event{Type: EventTermChanged, Term: uint64(i)})
	}
	for range subscriberBuffer {
		<-ch
	}
	bus.publish(Event{Type: EventTermChanged, Term: 1000})
	ev := <-ch
	if ev.Type != EventsLost || ev.Lost != 10 {
		t.Fatalf("after overflow got %v, want EventsLost with 10 lost", ev)
	}
	if ev := <-ch; ev.Term != 1000 {
		t.Fatalf("next event = %v, want the one published after the overflow", ev)
	}
	bus.close()
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after close")
	}
}

func TestMemoryLogStoreSaveIsAllOrNothing(t *testing.T) {
	s := NewMemoryLogStore()
	ents := []*raftpb.Entry{{Index: new(uint64(1)), Term: new(uint64(1))}, {Index: new(uint64(3)), Term: new(uint64(1))}}
	if err := s.Save(&raftpb.HardState{Term: new(uint64(5))}, ents, nil); err == nil {
		t.Fatal("non-contiguous entries accepted")
	}
	if hs, _, _ := s.InitialState(); hs.GetTerm() != 0 {
		t.Fatalf("a failed Save changed the hard state: %v", hs)
	}
	gap := []*raftpb.Entry{{Index: new(uint64(5)), Term: new(uint64(1))}}
	if err := s.Save(nil, gap, nil); err == nil {
		t.Fatal("append leaving a gap accepted")
	}
}
