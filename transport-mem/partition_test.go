package transportmem_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// reaches sends one message from → to and reports whether it was delivered
// (true) or dropped (false).
func reaches(t *testing.T, net *transportmem.Network, c *transporttest.Cluster, from, to, index uint64) bool {
	t.Helper()
	before := net.LinkStats(from, to).Dropped
	c.Node(from).Send([]*raftpb.Message{transporttest.NewMessage(from, to, index, nil)})
	s := waitIdle(t, net, from, to)
	if s.Dropped > before {
		return false
	}
	return c.Recorder(to).Messages()[len(c.Recorder(to).Messages())-1].GetIndex() == index
}

func TestPartitionsCutTheirLinksOnly(t *testing.T) {
	type link struct{ from, to uint64 }
	tests := []struct {
		name    string
		cut     func(n *transportmem.Network)
		blocked []link
	}{
		{"SymmetricPartition", func(n *transportmem.Network) { n.Partition([]uint64{1}, []uint64{2, 3}) },
			[]link{{1, 2}, {2, 1}, {1, 3}, {3, 1}}},
		{"Isolate", func(n *transportmem.Network) { n.Isolate(2) },
			[]link{{1, 2}, {2, 1}, {2, 3}, {3, 2}}},
		{"OneWayCut", func(n *transportmem.Network) { n.Cut(1, 2) },
			[]link{{1, 2}}},
		{"CutsAccumulate", func(n *transportmem.Network) { n.Cut(1, 2); n.Cut(3, 1) },
			[]link{{1, 2}, {3, 1}}},
	}
	all := []link{{1, 2}, {2, 1}, {1, 3}, {3, 1}, {2, 3}, {3, 2}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, c := startMem(t, transportmem.NetworkConfig{}, 3)
			tt.cut(net)
			index := uint64(0)
			for _, l := range all {
				wantBlocked := false
				for _, b := range tt.blocked {
					wantBlocked = wantBlocked || b == l
				}
				index++
				if got := reaches(t, net, c, l.from, l.to, index); got == wantBlocked {
					t.Errorf("link %d→%d delivered=%v, want %v", l.from, l.to, got, !wantBlocked)
				}
				if net.Reachable(l.from, l.to) == wantBlocked {
					t.Errorf("Reachable(%d, %d) = %v, want %v", l.from, l.to, !wantBlocked, wantBlocked)
				}
			}
			for _, b := range tt.blocked {
				c.Recorder(b.from).Wait(t, transporttest.WaitTimeout, "unreachable report", func(s *transporttest.RecorderState) bool { return s.Unreachable(b.to) > 0 })
			}
			net.Heal()
			for _, l := range all {
				index++
				if !reaches(t, net, c, l.from, l.to, index) {
					t.Errorf("link %d→%d still cut after Heal", l.from, l.to)
				}
			}
		})
	}
}

func TestPartitionDropsMessagesAlreadyQueued(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{MaxBatch: 1}, 2)
	release := c.Recorder(2).Block()
	sendRange(c, 1, 2, 1, 1)
	c.Recorder(2).Wait(t, transporttest.WaitTimeout, "receiver stuck in its handler", func(s *transporttest.RecorderState) bool { return s.Blocked() == 1 })
	sendRange(c, 1, 2, 2, 5)
	net.Isolate(2)
	release()
	if s := waitIdle(t, net, 1, 2); s.Delivered != 1 || s.Dropped != 4 {
		t.Errorf("stats %+v, want 1 delivered before the partition and 4 queued dropped", s)
	}
}

func TestSnapshotFailsAcrossPartition(t *testing.T) {
	tests := []struct {
		name string
		cut  func(n *transportmem.Network)
	}{
		{"Symmetric", func(n *transportmem.Network) { n.Partition([]uint64{1}, []uint64{2}) }},
		{"OneWayTowardsReceiver", func(n *transportmem.Network) { n.Cut(1, 2) }},
		{"OneWayTowardsSender", func(n *transportmem.Network) { n.Cut(2, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/BeforeStart", func(t *testing.T) {
			net, c := startMem(t, transportmem.NetworkConfig{}, 2)
			tt.cut(net)
			err := c.Node(1).SendSnapshot(t.Context(), transporttest.NewSnapshotMessage(1, 2, 9), bytes.NewReader([]byte("state")))
			if !errors.Is(err, transportmem.ErrPartitioned) {
				t.Errorf("SendSnapshot returned %v, want ErrPartitioned", err)
			}
		})
		t.Run(tt.name+"/MidStream", func(t *testing.T) {
			net, c := startMem(t, transportmem.NetworkConfig{}, 2)
			reading := make(chan struct{})
			handlerErr := make(chan error, 1)
			c.Recorder(2).OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
				if _, err := io.ReadFull(body, make([]byte, 1024)); err != nil {
					return err
				}
				close(reading)
				_, err := io.Copy(io.Discard, body)
				handlerErr <- err
				return err
			})
			done := make(chan error, 1)
			go func() {
				done <- c.Node(1).SendSnapshot(t.Context(), transporttest.NewSnapshotMessage(1, 2, 9), endless{})
			}()
			transporttest.WaitClosed(t, reading, transporttest.WaitTimeout, "receiver reading")
			tt.cut(net)
			if err := transporttest.WaitClosed(t, done, transporttest.WaitTimeout, "SendSnapshot"); !errors.Is(err, transportmem.ErrPartitioned) {
				t.Errorf("SendSnapshot returned %v, want ErrPartitioned", err)
			}
			if err := transporttest.WaitClosed(t, handlerErr, transporttest.WaitTimeout, "receiver"); !errors.Is(err, transportmem.ErrPartitioned) {
				t.Errorf("receiver's body failed with %v, want ErrPartitioned", err)
			}
		})
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestStreamsFailAcrossPartition(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer s.Close()
	net.Cut(2, 1)
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, transportmem.ErrPartitioned) {
		t.Errorf("Read on a stream across a new cut returned %v, want ErrPartitioned", err)
	}
	if _, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt); !errors.Is(err, transportmem.ErrPartitioned) {
		t.Errorf("OpenStream across a cut returned %v, want ErrPartitioned", err)
	}
	net.Heal()
	got, _, err := transporttest.EchoRoundTrip(t.Context(), c, 1, 2, raftcore.ProtocolMgmt, []byte("healed"))
	if err != nil || string(got) != "healed" {
		t.Errorf("echo after Heal: %q, %v", got, err)
	}
}
