package transportmem_test

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// startMem starts n transports with ids 1..n on a new network.
func startMem(t *testing.T, cfg transportmem.NetworkConfig, n int) (*transportmem.Network, *transporttest.Cluster) {
	t.Helper()
	var net *transportmem.Network
	factory := newCluster(cfg)
	c := transporttest.StartCluster(t, func(t *testing.T, ids []uint64) []transporttest.Node {
		nodes := factory(t, ids)
		net = nodes[0].Transport.(*transportmem.Transport).Network()
		return nodes
	}, n)
	return net, c
}

// waitIdle waits until every message sent on the link from → to was
// delivered or dropped.
func waitIdle(t *testing.T, net *transportmem.Network, from, to uint64) transportmem.LinkStats {
	t.Helper()
	// Counters have no change notification: poll them until the deadline.
	deadline := time.NewTimer(transporttest.WaitTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for {
		s := net.LinkStats(from, to)
		if s.Sent+s.Duplicated == s.Delivered+s.Dropped {
			return s
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("link %d→%d not idle after %v: %+v", from, to, transporttest.WaitTimeout, s)
		}
	}
}

func sendRange(c *transporttest.Cluster, from, to, first, last uint64) {
	for i := first; i <= last; i++ {
		c.Node(from).Send([]*raftpb.Message{transporttest.NewMessage(from, to, i, nil)})
	}
}

func indices(msgs []*raftpb.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.GetIndex()
	}
	return out
}

func TestDropFaultLosesTheConfiguredShareSilently(t *testing.T) {
	tests := []struct {
		name     string
		drop     float64
		min, max uint64 // dropped out of 2000
	}{
		{"None", 0, 0, 0},
		{"ThirtyPercent", 0.3, 450, 750},
		{"All", 1, 2000, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, c := startMem(t, transportmem.NetworkConfig{QueueSize: 4096, Faults: transportmem.Faults{Drop: tt.drop}}, 2)
			sendRange(c, 1, 2, 1, 2000)
			s := waitIdle(t, net, 1, 2)
			if s.Dropped < tt.min || s.Dropped > tt.max {
				t.Errorf("dropped %d of 2000, want between %d and %d", s.Dropped, tt.min, tt.max)
			}
			got := c.Recorder(2).Messages()
			if uint64(len(got)) != s.Delivered || s.Delivered+s.Dropped != 2000 {
				t.Errorf("received %d messages, stats %+v", len(got), s)
			}
			for i := 1; i < len(got); i++ {
				if got[i].GetIndex() <= got[i-1].GetIndex() {
					t.Fatalf("drops reordered the link: %d after %d", got[i].GetIndex(), got[i-1].GetIndex())
				}
			}
			if n := c.Recorder(1).Unreachable(2); n != 0 {
				t.Errorf("random drops reported the peer unreachable %d times; they should be silent", n)
			}
		})
	}
}

func TestSameSeedReplaysSameFaultDecisions(t *testing.T) {
	run := func(seed uint64) []uint64 {
		cfg := transportmem.NetworkConfig{Seed: seed, QueueSize: 512, Faults: transportmem.Faults{Drop: 0.5, Duplicate: 0.2}}
		net, c := startMem(t, cfg, 2)
		sendRange(c, 1, 2, 1, 300)
		waitIdle(t, net, 1, 2)
		return indices(c.Recorder(2).Messages())
	}
	first, again, other := run(42), run(42), run(43)
	if !equalIndices(first, again) {
		t.Errorf("seed 42 delivered %v, then %v", first, again)
	}
	if equalIndices(first, other) {
		t.Errorf("seeds 42 and 43 delivered the same %d messages", len(first))
	}
}

func equalIndices(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDuplicateFaultDeliversDistinctCopies(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{Faults: transportmem.Faults{Duplicate: 1}}, 2)
	sendRange(c, 1, 2, 1, 50)
	s := waitIdle(t, net, 1, 2)
	if s.Sent != 50 || s.Duplicated != 50 || s.Delivered != 100 {
		t.Errorf("stats %+v, want 50 sent, 50 duplicated, 100 delivered", s)
	}
	got := c.Recorder(2).Messages()
	if len(got) != 100 {
		t.Fatalf("received %d messages, want 100", len(got))
	}
	for i := 0; i < len(got); i += 2 {
		if got[i].GetIndex() != uint64(i/2+1) || got[i+1].GetIndex() != got[i].GetIndex() {
			t.Fatalf("messages %d and %d have indices %d and %d, want %d twice", i, i+1, got[i].GetIndex(), got[i+1].GetIndex(), i/2+1)
		}
		if got[i] == got[i+1] || got[i].Entries[0] == got[i+1].Entries[0] {
			t.Fatalf("the two copies of message %d share memory", i/2+1)
		}
	}
}

func TestDelayFaultHoldsMessagesBackInOrder(t *testing.T) {
	const delay = 50 * time.Millisecond
	net, c := startMem(t, transportmem.NetworkConfig{Faults: transportmem.Faults{Delay: delay}}, 2)
	start := time.Now()
	sendRange(c, 1, 2, 1, 20)
	c.Recorder(2).Wait(t, transporttest.WaitTimeout, "delayed messages", func(s *transporttest.RecorderState) bool { return len(s.Messages()) >= 1 })
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("first message arrived after %v, want at least the %v delay", elapsed, delay)
	}
	waitIdle(t, net, 1, 2)
	if got := indices(c.Recorder(2).Messages()); len(got) != 20 || !isSorted(got) {
		t.Errorf("a fixed delay should keep order: got %v", got)
	}
}

func isSorted(xs []uint64) bool {
	for i := 1; i < len(xs); i++ {
		if xs[i] <= xs[i-1] {
			return false
		}
	}
	return true
}

func TestJitterReordersWithoutLoss(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{Seed: 7, Faults: transportmem.Faults{Jitter: 30 * time.Millisecond}}, 2)
	sendRange(c, 1, 2, 1, 200)
	waitIdle(t, net, 1, 2)
	got := indices(c.Recorder(2).Messages())
	if len(got) != 200 {
		t.Fatalf("received %d messages, want 200", len(got))
	}
	if isSorted(got) {
		t.Error("200 messages with 30ms of jitter arrived in order")
	}
}

func TestReorderFaultLetsTheNextMessageOvertake(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{Faults: transportmem.Faults{Reorder: 1, ReorderHold: 20 * time.Millisecond}}, 2)
	c.Node(1).Send([]*raftpb.Message{
		transporttest.NewMessage(1, 2, 1, nil),
		transporttest.NewMessage(1, 2, 2, nil),
		transporttest.NewMessage(1, 2, 3, nil),
	})
	waitIdle(t, net, 1, 2)
	// 1 is held and overtaken by 2; 3 is held and, with no successor, released
	// when its hold time ends.
	if got := indices(c.Recorder(2).Messages()); !equalIndices(got, []uint64{2, 1, 3}) {
		t.Errorf("delivery order %v, want [2 1 3]", got)
	}
}

func TestFullQueueDropsReportsAndCounts(t *testing.T) {
	const queue = 8
	net, c := startMem(t, transportmem.NetworkConfig{QueueSize: queue, MaxBatch: 1}, 2)
	release := c.Recorder(2).Block()
	sendRange(c, 1, 2, 1, 1)
	c.Recorder(2).Wait(t, transporttest.WaitTimeout, "receiver stuck in its handler", func(s *transporttest.RecorderState) bool { return s.Blocked() == 1 })
	sendRange(c, 1, 2, 2, 50)
	c.Recorder(1).Wait(t, transporttest.WaitTimeout, "overflow report", func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })
	release()
	s := waitIdle(t, net, 1, 2)
	// One message was in the handler, queue more waited; the rest was dropped.
	if s.Sent != 50 || s.Delivered != 1+queue || s.Dropped != 50-1-queue {
		t.Errorf("stats %+v, want 50 sent, %d delivered, %d dropped", s, 1+queue, 50-1-queue)
	}
}

func TestRemovePeerDropsQueuedMessages(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{MaxBatch: 1}, 2)
	release := c.Recorder(2).Block()
	sendRange(c, 1, 2, 1, 1)
	c.Recorder(2).Wait(t, transporttest.WaitTimeout, "receiver stuck in its handler", func(s *transporttest.RecorderState) bool { return s.Blocked() == 1 })
	sendRange(c, 1, 2, 2, 10)
	c.Node(1).RemovePeer(2)
	release()
	s := waitIdle(t, net, 1, 2)
	if s.Delivered != 1 || s.Dropped != 9 {
		t.Errorf("stats %+v, want the message in the handler delivered and 9 queued dropped", s)
	}
}

func TestLinkFaultsOverrideTheNetworkFaultsOnOneLinkOnly(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := net.SetLinkFaults(1, 2, transportmem.Faults{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	if reaches(t, net, c, 1, 2, 1) {
		t.Error("1→2 delivered although its link drops everything")
	}
	if !reaches(t, net, c, 2, 1, 2) {
		t.Error("2→1 dropped although only 1→2 has faults")
	}
	if err := net.SetFaults(transportmem.Faults{Duplicate: 1}); err != nil {
		t.Fatal(err)
	}
	if reaches(t, net, c, 1, 2, 3) {
		t.Error("1→2 delivered: its own faults should win over the network's")
	}
	net.ClearLinkFaults(1, 2)
	before := net.LinkStats(1, 2).Duplicated
	if !reaches(t, net, c, 1, 2, 4) || net.LinkStats(1, 2).Duplicated != before+1 {
		t.Errorf("after ClearLinkFaults, 1→2 should follow the network's Duplicate fault: %+v", net.LinkStats(1, 2))
	}
}
