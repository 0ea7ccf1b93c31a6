package transportquic

import (
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// sendUntilIndex sends a marker message with a fresh index every interval
// until one arrives, and returns the index that did.
func sendUntilDelivered(t *testing.T, from *Transport, to *transporttest.Recorder, fromID, toID uint64, start uint64, timeout time.Duration) uint64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for index := start; ; index++ {
		from.Send([]*raftpb.Message{transporttest.NewMessage(fromID, toID, index, nil)})
		if to.WaitContext(t.Context(), 200*time.Millisecond, func(s *transporttest.RecorderState) bool { return s.HasIndex(fromID, index) }) == nil {
			return index
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message from %d reached %d within %v", fromID, toID, timeout)
		}
	}
}

func TestDeliversEveryMessageUnderTenPercentLoss(t *testing.T) {
	seed := transporttest.NewSeed(t)
	a, fa := newTestTransport(t, 1, nil)
	b, fb := newTestTransport(t, 2, nil)
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	for _, f := range []*FaultConn{fa, fb} {
		f.SetLoss(0.10)
	}
	// Raft retransmits what a failed connection attempt dropped; once a
	// connection is up, QUIC recovers every lost packet.
	first := sendUntilDelivered(t, a, rb, 1, 2, 1, 30*time.Second)
	const rounds, perRound = 20, 50
	payload := transporttest.RandomBytes(seed, 2<<10)
	index := first
	for range rounds {
		batch := make([]*raftpb.Message, perRound)
		for i := range batch {
			index++
			batch[i] = transporttest.NewMessage(1, 2, index, payload)
		}
		a.Send(batch)
		last := index
		rb.Wait(t, waitTimeout, "round delivered", func(s *transporttest.RecorderState) bool { return s.HasIndex(1, last) })
	}
	var got []uint64
	for _, m := range rb.Messages() {
		if m.GetIndex() > first {
			got = append(got, m.GetIndex())
		}
	}
	if len(got) != rounds*perRound {
		t.Fatalf("delivered %d of %d messages", len(got), rounds*perRound)
	}
	for i, idx := range got {
		if idx != first+uint64(i)+1 {
			t.Fatalf("message %d has index %d: lost, duplicated or reordered", i, idx)
		}
	}
	if fa.Dropped()+fb.Dropped() == 0 {
		t.Fatal("no packet was dropped: the test did not inject loss")
	}
	t.Logf("packets dropped: %d and %d", fa.Dropped(), fb.Dropped())
}

func TestPartitionStopsDeliveryAndHealingRestoresIt(t *testing.T) {
	short := func(c *Config) { c.IdleTimeout = time.Second }
	a, fa := newTestTransport(t, 1, short)
	b, fb := newTestTransport(t, 2, short)
	link(t, a, b)
	ra := recorder(t, a)
	rb := recorder(t, b)
	next := sendUntilDelivered(t, a, rb, 1, 2, 1, waitTimeout) + 1

	fa.Partition(b.Addr())
	fb.Partition(a.Addr())
	before := len(rb.Messages())
	// The connection times out and redials fail: a reports b unreachable.
	deadline := time.Now().Add(waitTimeout)
	for ra.Unreachable(2) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("partitioned peer never reported unreachable")
		}
		a.Send([]*raftpb.Message{transporttest.NewMessage(1, 2, next, nil)})
		next++
		_ = ra.WaitContext(t.Context(), 100*time.Millisecond, func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })
	}
	if got := len(rb.Messages()); got != before {
		t.Fatalf("%d messages crossed the partition", got-before)
	}

	fa.Heal()
	fb.Heal()
	sendUntilDelivered(t, a, rb, 1, 2, next+1000, waitTimeout)
}

func TestDelayedPacketsAreDelivered(t *testing.T) {
	a, fa := newTestTransport(t, 1, nil)
	b, fb := newTestTransport(t, 2, nil)
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	fa.SetDelay(30 * time.Millisecond)
	fb.SetDelay(30 * time.Millisecond)
	start := time.Now()
	a.Send([]*raftpb.Message{heartbeat(1, 2, 4)})
	rb.Wait(t, waitTimeout, "heartbeat", hasTerm(1, 4))
	// Handshake, welcome and message need at least two round trips.
	if elapsed := time.Since(start); elapsed < 120*time.Millisecond {
		t.Fatalf("delivered after %v although every packet is delayed 30ms", elapsed)
	}
}

func TestAddressChangeOfKnownKeyIsPickedUp(t *testing.T) {
	a, _ := newTestTransport(t, 1, nil)
	b, _ := newTestTransport(t, 2, nil)
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	rb.Wait(t, waitTimeout, "heartbeat to the first address", hasTerm(1, 1))

	// Node 2 restarts elsewhere with the same identity.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	moved, _ := newTestTransport(t, 2, func(c *Config) { c.Identity = b.cfg.Identity })
	if err := moved.AddPeer(a.Self()); err != nil {
		t.Fatal(err)
	}
	rm := recorder(t, moved)
	if err := a.AddPeer(moved.Self()); err != nil {
		t.Fatal(err)
	}
	a.Send([]*raftpb.Message{heartbeat(1, 2, 2)})
	rm.Wait(t, waitTimeout, "heartbeat to the new address", hasTerm(1, 2))
}

func TestHeartbeatIsNotQueuedBehindLargeAppend(t *testing.T) {
	// A long write timeout: were both on one stream, the heartbeat would
	// wait for the whole append to be written.
	a, fa := newTestTransport(t, 1, func(c *Config) { c.WriteTimeout = time.Minute })
	b, _ := newTestTransport(t, 2, nil)
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	sendUntilDelivered(t, a, rb, 1, 2, 1, waitTimeout)
	// Slow the link so that the append takes a while to cross it.
	fa.SetDelay(time.Millisecond)
	big := transporttest.NewMessage(1, 2, 100, transporttest.RandomBytes(transporttest.NewSeed(t), 12<<20))
	a.Send([]*raftpb.Message{big, heartbeat(1, 2, 42)})
	rb.Wait(t, waitTimeout, "heartbeat", hasTerm(1, 42))
	for _, m := range rb.Messages() {
		if m.GetIndex() == 100 {
			t.Fatal("the 12 MiB append was delivered before the heartbeat sent after it")
		}
		if m.GetTerm() == 42 {
			break
		}
	}
}

// TestRestartOnSameAddressIsReachableAtOnce restarts node 2 on its address
// with its identity. Its stateless reset key is derived from the identity, so
// node 1's old connection is reset at once instead of idling out.
func TestRestartOnSameAddressIsReachableAtOnce(t *testing.T) {
	const idle = time.Minute
	longIdle := func(c *Config) { c.IdleTimeout = idle }
	a, b, fb := connectedPair(t, longIdle, longIdle)

	// A crash: node 1 never hears that the connection closed.
	addr := b.Self().Addr
	fb.SetLoss(1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := restartOn(t, addr, b, a, longIdle)
	rr := recorder(t, restarted)
	// Well under the idle timeout: only a reset of the old connection gets
	// the message through this fast.
	sendUntilDelivered(t, a, rr, 1, 2, 100, idle/4)
}

// connectedPair starts nodes 1 and 2, each with its config edit, and returns
// them once a heartbeat from 1 has reached 2, with node 2's FaultConn.
func connectedPair(t *testing.T, editA, editB func(*Config)) (a, b *Transport, fb *FaultConn) {
	t.Helper()
	a, _ = newTestTransport(t, 1, editA)
	b, fb = newTestTransport(t, 2, editB)
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	// Until one arrives: a message written while both nodes' first
	// connections race can be lost with the connection that loses.
	deadline := time.Now().Add(waitTimeout)
	for {
		a.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
		if rb.WaitContext(t.Context(), 200*time.Millisecond, hasTerm(1, 1)) == nil {
			return a, b, fb
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat from node 1 reached node 2 within %v", waitTimeout)
		}
	}
}

// restartOn starts a new transport with old's node ID and identity on addr,
// which old must have released, and gives it peer as its peer.
func restartOn(t *testing.T, addr string, old, peer *Transport, edit func(*Config)) *Transport {
	t.Helper()
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, old.cfg.NodeID)
	if edit != nil {
		edit(&cfg)
	}
	cfg.Identity, cfg.PacketConn = old.cfg.Identity, udp
	restarted, err := New(cfg)
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restarted.Close() })
	if err := restarted.AddPeer(peer.Self()); err != nil {
		t.Fatal(err)
	}
	return restarted
}

// TestRestartedPeerIsRedialedWithoutWaitingOutTheBackoff: while node 2 is
// down, node 1's dials fail and its redial backoff grows (here to 30-60 s).
// When node 2 comes back it connects to node 1 at once, and node 1 takes that
// as proof that node 2 is up: its next message dials without waiting.
func TestRestartedPeerIsRedialedWithoutWaitingOutTheBackoff(t *testing.T) {
	a, b, _ := connectedPair(t, func(c *Config) { c.MinRedialDelay, c.MaxRedialDelay = time.Minute, time.Minute }, nil)

	addr := b.Self().Addr
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	backingOff := func() bool {
		a.mu.RLock()
		p := a.peers[2]
		a.mu.RUnlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.failures > 0 && time.Until(p.nextDial) > 20*time.Second
	}
	clustertest.WaitFor(t, "a failed dial to the stopped node", waitTimeout, func() bool {
		a.Send([]*raftpb.Message{heartbeat(1, 2, 2)})
		return backingOff()
	})

	restarted := restartOn(t, addr, b, a, nil)
	rr := recorder(t, restarted)
	sendUntilDelivered(t, a, rr, 1, 2, 100, 10*time.Second)
}
