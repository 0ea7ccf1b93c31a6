package transportquic

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// inboundOf counts b's admitted inbound connections from key.
func inboundOf(b *Transport, key []byte) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, in := range b.inbound {
		if string(in.remote.Key) == string(key) {
			n++
		}
	}
	return n
}

func TestConnectionsPerPeerAreBounded(t *testing.T) {
	const limit, attempts = 2, 8
	b, _ := newTestTransport(t, 2, func(c *Config) { c.MaxConnectionsPerPeer = limit })
	recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	client := newRawClient(t, memberKey, 1, nil)
	var conns []*quic.Conn
	for i := range attempts {
		conn, err := client.dial(t, b, raftcore.ProtocolRaft, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, conn)
		if n := inboundOf(b, PublicKey(memberKey)); n > limit {
			t.Fatalf("%d connections of one identity admitted, limit %d", n, limit)
		}
	}
	// The oldest ones were closed, so a restarted peer is never locked out.
	for i, conn := range conns[:attempts-limit] {
		select {
		case <-conn.Context().Done():
		case <-time.After(waitTimeout):
			t.Fatalf("connection %d of %d still open", i, attempts)
		}
	}
	for i, conn := range conns[attempts-limit:] {
		if conn.Context().Err() != nil {
			t.Fatalf("newest connection %d was closed", attempts-limit+i)
		}
	}
	if got := b.Stats().LimitsHit; got != attempts-limit {
		t.Errorf("LimitsHit = %d, want %d", got, attempts-limit)
	}
}

func TestNonMemberConnectionsAreBounded(t *testing.T) {
	const limit = 3
	toolKey := mustKey(t)
	b, _ := newTestTransport(t, 2, func(c *Config) {
		c.ClusterSecret = testSecret
		c.TrustedKeys = append(c.TrustedKeys, PublicKey(toolKey))
		c.MaxNonMemberConnections = limit
	})
	recorder(t, b)
	if err := b.HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	// Allow-listed keys and secret holders with fresh ids share the bound.
	admitted := 0
	for i := range 3 * limit {
		c := newRawClient(t, toolKey, 0, nil)
		if i%2 == 1 {
			c = newRawClient(t, mustKey(t), uint64(100+i), testSecret)
		}
		if _, err := c.dial(t, b, raftcore.ProtocolMgmt, nil); err == nil {
			admitted++
		}
	}
	if admitted != limit {
		t.Fatalf("%d non-member connections admitted, want %d", admitted, limit)
	}
	// A member is not affected.
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	if _, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil); err != nil {
		t.Fatalf("member refused while non-members are at their limit: %v", err)
	}
}

func TestStreamsPerConnectionAreBounded(t *testing.T) {
	const limit = 4
	b, _ := newTestTransport(t, 2, func(c *Config) { c.MaxStreamsPerConnection = limit })
	recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for range 10 * limit {
		s, err := conn.OpenStream()
		if err != nil {
			if !errors.As(err, new(quic.StreamLimitReachedError)) && !errors.As(err, new(*quic.StreamLimitReachedError)) {
				t.Fatalf("OpenStream: %v", err)
			}
			continue
		}
		t.Cleanup(func() { s.CancelWrite(0); s.CancelRead(0) })
		opened++
	}
	if opened != limit {
		t.Fatalf("opened %d concurrent streams, limit %d", opened, limit)
	}
}

func TestLargeFrameBufferIsGivenBack(t *testing.T) {
	b, _ := newTestTransport(t, 2, nil)
	rb := recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := transporttest.NewMessage(1, 2, 1, make([]byte, 4<<20))
	s := openRaw(t, conn)
	if _, err := s.Write(append([]byte{streamMessages}, frameOf(t, big)...)); err != nil {
		t.Fatal(err)
	}
	rb.Wait(t, waitTimeout, "large message", func(s *transporttest.RecorderState) bool { return s.HasIndex(1, 1) })
	if held := b.frameGauge.cur.Load(); held > maxRetainedFrameBuffer {
		t.Fatalf("stream still holds %d bytes after a 4 MiB frame, want at most %d", held, maxRetainedFrameBuffer)
	}
}

func TestStalledStreamsAreClosed(t *testing.T) {
	b, _ := newTestTransport(t, 2, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	rb := recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	frame := frameOf(t, heartbeat(1, 2, 1))
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"FrameHeaderOnly", append([]byte{streamMessages}, frame[:codec.FrameHeaderSize]...)},
		{"HalfAFrame", append([]byte{streamMessages}, frame[:len(frame)-2]...)},
		{"SnapshotWithoutHeader", []byte{streamSnapshot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openRaw(t, conn)
			if _, err := s.Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.Context().Done():
			case <-time.After(waitTimeout):
				t.Fatal("stalled stream was not closed")
			}
			var serr *quic.StreamError
			if cause := context.Cause(s.Context()); !errors.As(cause, &serr) || serr.ErrorCode != codeTimeout {
				t.Fatalf("stalled stream ended with %v, want the receiver's timeout code", cause)
			}
		})
	}
	// A stream idle between frames stays open, and the connection works.
	s := openRaw(t, conn)
	if _, err := s.Write(append([]byte{streamMessages}, frame...)); err != nil {
		t.Fatal(err)
	}
	rb.Wait(t, waitTimeout, "heartbeat", hasTerm(1, 1))
}

// TestFloodOfConnectionsAndStreamsKeepsMemoryBounded plays a member that
// opens connections and streams far beyond the limits, each stream sending
// all but the last byte of a frame of MaxFrameSize, and checks what the
// receiver holds.
func TestFloodOfConnectionsAndStreamsKeepsMemoryBounded(t *testing.T) {
	const (
		maxFrame       = 1 << 20
		budget         = 2 * maxFrame
		conns          = 6
		streamsPerConn = 16
	)
	b, _ := newTestTransport(t, 2, func(c *Config) {
		c.MaxFrameSize = maxFrame
		c.SnapshotChunkSize = maxFrame / 4
		c.MaxFrameBytesPerPeer = budget
		c.MaxConnectionsPerPeer = 2
		c.MaxStreamsPerConnection = 4
		c.ReadTimeout = time.Second
	})
	recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// One shared payload: the attacker's own memory does not grow with the
	// streams.
	frame := binary.BigEndian.AppendUint32([]byte{streamMessages}, maxFrame)
	frame = binary.BigEndian.AppendUint32(frame, 0)
	frame = append(frame, make([]byte, maxFrame-1)...)
	client := newRawClient(t, memberKey, 1, nil)
	var writers sync.WaitGroup
	var writeErrs atomic.Int64
	opened := 0
	for i := range conns {
		conn, err := client.dial(t, b, raftcore.ProtocolRaft, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		for range streamsPerConn {
			s, err := conn.OpenStream()
			if err != nil {
				continue // stream limit reached
			}
			opened++
			writers.Add(1)
			go func() {
				defer writers.Done()
				// Returns once b took every byte, or closed the stream.
				if _, err := s.Write(frame); err != nil {
					writeErrs.Add(1)
				}
			}()
		}
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * waitTimeout):
		t.Fatal("attack streams neither drained nor closed")
	}
	close(stopSampling)
	<-sampled
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("flood: %d connections, %d streams opened of %d attempted (%d closed by the receiver), frame memory peak %d bytes (limit %d), heap in use grew by at most %.1f MiB, peak RSS %s",
		conns, opened, conns*streamsPerConn, writeErrs.Load(), b.frameGauge.peak.Load(), budget, float64(growth)/(1<<20), peakRSS())
	if opened > conns*4 {
		t.Errorf("%d streams opened, at most %d allowed", opened, conns*4)
	}
	if p := b.frameGauge.peak.Load(); p > budget {
		t.Errorf("frame memory peaked at %d bytes, limit %d", p, budget)
	}
	if n := inboundOf(b, PublicKey(memberKey)); n > 2 {
		t.Errorf("%d connections of the attacker admitted, limit 2", n)
	}
	// Generous: the receiver's frames are bounded by 2 MiB, QUIC buffers by
	// its flow-control windows of the two admitted connections.
	if growth > 48<<20 {
		t.Errorf("heap in use grew by %d MiB during the attack", growth>>20)
	}
}

// peakRSS returns the process's peak resident set size (Linux), or "n/a".
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}

func TestSnapshotBeyondMaxSnapshotSizeIsCutOff(t *testing.T) {
	const max = 64 << 10
	a, _ := newTestTransport(t, 1, func(c *Config) { c.SnapshotChunkSize = 16 << 10 })
	b, _ := newTestTransport(t, 2, func(c *Config) { c.MaxSnapshotSize = max })
	link(t, a, b)
	recorder(t, a)
	rb := recorder(t, b)
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	rb.OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
		n, err := io.Copy(io.Discard, body)
		got <- result{n, err}
		return err
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	err := a.SendSnapshot(ctx, transporttest.NewSnapshotMessage(1, 2, 5), strings.NewReader(strings.Repeat("x", 4*max)))
	if !errors.Is(err, ErrSnapshotRejected) {
		t.Fatalf("SendSnapshot of %d bytes to a receiver taking %d: %v, want ErrSnapshotRejected", 4*max, max, err)
	}
	r := transporttest.WaitClosed(t, got, waitTimeout, "handler's read")
	if !errors.Is(r.err, ErrSnapshotTooLarge) || r.n > max {
		t.Fatalf("handler read %d bytes, then %v; want at most %d, then ErrSnapshotTooLarge", r.n, r.err, max)
	}
	// A snapshot within the limit still goes through.
	go func() { _ = transporttest.WaitClosed(t, got, waitTimeout, "second read") }()
	if err := a.SendSnapshot(ctx, transporttest.NewSnapshotMessage(1, 2, 6), strings.NewReader(strings.Repeat("x", max))); err != nil {
		t.Fatalf("snapshot of exactly MaxSnapshotSize: %v", err)
	}
}

func TestStalledSnapshotIsAborted(t *testing.T) {
	b, _ := newTestTransport(t, 2, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })
	rb := recorder(t, b)
	memberKey := mustKey(t)
	_ = b.AddPeer(raftcore.Peer{ID: 1, Addr: "127.0.0.1:9", Key: PublicKey(memberKey)})
	bodyErr := make(chan error, 1)
	rb.OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
		_, err := io.Copy(io.Discard, body)
		bodyErr <- err
		return err
	})
	conn, err := newRawClient(t, memberKey, 1, nil).dial(t, b, raftcore.ProtocolRaft, nil)
	if err != nil {
		t.Fatal(err)
	}
	header, err := proto.Marshal(transporttest.NewSnapshotMessage(1, 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	s := openRaw(t, conn)
	stream := codec.AppendFrame([]byte{streamSnapshot}, header)
	stream = codec.AppendFrame(stream, append([]byte{snapshotData}, "some data"...))
	if _, err := s.Write(stream); err != nil { // and then nothing more
		t.Fatal(err)
	}
	if err := transporttest.WaitClosed(t, bodyErr, waitTimeout, "handler's read"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled snapshot body: %v, want a deadline error", err)
	}
	verdict, err := codec.NewFrameReader(s, maxResponseSize).ReadFrame()
	if err != nil || len(verdict) == 0 || verdict[0] != snapshotRefused {
		t.Fatalf("verdict %q (%v), want a refusal", verdict, err)
	}
}
