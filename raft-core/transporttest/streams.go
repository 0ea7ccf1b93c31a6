package transporttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// UnknownProtocol is a protocol id no transport registers in the suite.
const UnknownProtocol = "transporttest/unknown/1"

func runStreams(t *testing.T, newCluster NewCluster) {
	probe := StartCluster(t, newCluster, 1)
	if _, ok := probe.Node(1).(raftcore.StreamTransport); !ok {
		t.Logf("%T does not implement raftcore.StreamTransport; stream behaviour not checked", probe.Node(1))
		return
	}
	tests := []struct {
		name string
		run  func(t *testing.T, c *Cluster)
	}{
		{"EchoRoundTripReportsRemotes", testStreamEcho},
		{"CloseWriteHalfCloses", testStreamHalfClose},
		{"UnknownProtocolIsRefused", testStreamUnknownProtocol},
		{"LaterRegistrationReplacesEarlier", testStreamReplaceHandler},
		{"ConcurrentStreams", testConcurrentStreams},
		{"CloseEndsOpenStreams", testCloseEndsStreams},
		{"OpenStreamToClosedPeerFails", testOpenStreamClosedPeer},
		{"OpenStreamHonoursContext", testOpenStreamContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, StartCluster(t, newCluster, 2)) })
	}
}

// Streams returns the StreamTransport of node id.
func (c *Cluster) Streams(id uint64) raftcore.StreamTransport {
	return c.Node(id).(raftcore.StreamTransport)
}

// EchoHandler copies what it reads back to the stream, half-closes it, and
// sends the stream's Remote on remotes when remotes is not nil.
func EchoHandler(remotes chan<- raftcore.Peer) raftcore.StreamHandler {
	return func(_ context.Context, s raftcore.Stream) {
		defer s.Close()
		if remotes != nil {
			remotes <- s.Remote()
		}
		if _, err := io.Copy(s, s); err != nil {
			return
		}
		_ = s.CloseWrite()
	}
}

// EchoRoundTrip opens a stream from node `from` to node `to` on proto, writes
// payload, half-closes and returns what it reads back until EOF.
func EchoRoundTrip(ctx context.Context, c *Cluster, from, to uint64, proto string, payload []byte) ([]byte, raftcore.Stream, error) {
	s, err := c.Streams(from).OpenStream(ctx, c.Peer(to), proto)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	writeErr := make(chan error, 1)
	go func() {
		_, err := s.Write(payload)
		if err == nil {
			err = s.CloseWrite()
		}
		writeErr <- err
	}()
	got, err := io.ReadAll(s)
	if werr := <-writeErr; werr != nil && err == nil {
		err = werr
	}
	return got, s, err
}

// runBounded runs fn in a goroutine and fails the test if it does not return
// within LongWaitTimeout.
func runBounded[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	return WaitClosed(t, done, LongWaitTimeout, what)
}

func testStreamEcho(t *testing.T, c *Cluster) {
	remotes := make(chan raftcore.Peer, 1)
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, EchoHandler(remotes)); err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	payload := RandomBytes(NewSeed(t), 1<<20)
	type result struct {
		got []byte
		s   raftcore.Stream
		err error
	}
	res := runBounded(t, "echo round trip", func() result {
		got, s, err := EchoRoundTrip(t.Context(), c, 1, 2, raftcore.ProtocolMgmt, payload)
		return result{got, s, err}
	})
	if res.err != nil {
		t.Fatalf("echo round trip: %v", res.err)
	}
	if !bytes.Equal(res.got, payload) {
		t.Fatalf("echo returned %d bytes, want the %d sent", len(res.got), len(payload))
	}
	if id := res.s.Remote().ID; id != 2 {
		t.Errorf("opener's Remote().ID = %d, want 2", id)
	}
	if id := WaitClosed(t, remotes, WaitTimeout, "handler's remote").ID; id != 1 {
		t.Errorf("handler's Remote().ID = %d, want the opener's id 1", id)
	}
}

func testStreamHalfClose(t *testing.T, c *Cluster) {
	err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, func(_ context.Context, s raftcore.Stream) {
		defer s.Close()
		request, err := io.ReadAll(s) // ends only once the opener half-closed
		if err != nil {
			return
		}
		_, _ = s.Write(append([]byte("re:"), request...))
	})
	if err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	got := runBounded(t, "request and reply", func() error {
		s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.Write([]byte("ping")); err != nil {
			return err
		}
		if err := s.CloseWrite(); err != nil {
			return err
		}
		reply, err := io.ReadAll(s)
		if err != nil {
			return err
		}
		if string(reply) != "re:ping" {
			return errors.New("reply " + string(reply) + ", want re:ping")
		}
		if _, err := s.Write([]byte("late")); err == nil {
			return errors.New("a Write after CloseWrite succeeded")
		}
		return nil
	})
	if got != nil {
		t.Fatal(got)
	}
}

func testStreamUnknownProtocol(t *testing.T, c *Cluster) {
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, EchoHandler(nil)); err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	err := runBounded(t, "stream on an unknown protocol", func() error {
		s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), UnknownProtocol)
		if err != nil {
			return nil // refused at open
		}
		defer s.Close()
		// A transport may only learn of the refusal after opening: then the
		// stream must fail instead of carrying data.
		_, _ = s.Write([]byte("hello"))
		n, err := s.Read(make([]byte, 16))
		if err == nil || n > 0 {
			return errors.New("stream on an unregistered protocol carried data")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testStreamReplaceHandler(t *testing.T, c *Cluster) {
	for _, reply := range []string{"first", "second"} {
		err := c.Streams(2).HandleStream(raftcore.ProtocolDiscovery, func(_ context.Context, s raftcore.Stream) {
			defer s.Close()
			_, _ = s.Write([]byte(reply))
			_ = s.CloseWrite()
		})
		if err != nil {
			t.Fatalf("HandleStream: %v", err)
		}
	}
	type result struct {
		got []byte
		err error
	}
	res := runBounded(t, "reading the reply", func() result {
		s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolDiscovery)
		if err != nil {
			return result{nil, err}
		}
		defer s.Close()
		got, err := io.ReadAll(s)
		return result{got, err}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if string(res.got) != "second" {
		t.Fatalf("reply %q, want %q from the later registration", res.got, "second")
	}
}

func testConcurrentStreams(t *testing.T, c *Cluster) {
	for _, id := range []uint64{1, 2} {
		if err := c.Streams(id).HandleStream(raftcore.ProtocolMgmt, EchoHandler(nil)); err != nil {
			t.Fatalf("HandleStream: %v", err)
		}
	}
	seed := NewSeed(t)
	errs := runBounded(t, "concurrent echoes", func() []error {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for i := range uint64(8) {
			wg.Go(func() {
				from, to := 1+i%2, 2-i%2
				payload := RandomBytes(seed+i, 64<<10)
				got, _, err := EchoRoundTrip(t.Context(), c, from, to, raftcore.ProtocolMgmt, payload)
				if err == nil && !bytes.Equal(got, payload) {
					err = errors.New("echo differs from what was sent")
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return errs
	})
	for _, err := range errs {
		t.Error(err)
	}
}

func testCloseEndsStreams(t *testing.T, c *Cluster) {
	entered := make(chan struct{})
	handlerDone := make(chan struct{})
	err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, func(_ context.Context, s raftcore.Stream) {
		defer close(handlerDone)
		defer s.Close()
		close(entered)
		_, _ = io.Copy(io.Discard, s)
	})
	if err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	s := runBounded(t, "OpenStream", func() raftcore.Stream {
		s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt)
		if err != nil {
			t.Errorf("OpenStream: %v", err)
			return nil
		}
		return s
	})
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	WaitClosed(t, entered, LongWaitTimeout, "stream handler")
	readDone := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readDone <- err
	}()
	if err := c.Node(2).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	WaitClosed(t, handlerDone, WaitTimeout, "stream handler after its transport closed")
	if err := WaitClosed(t, readDone, LongWaitTimeout, "opener's Read after the remote transport closed"); err == nil {
		t.Error("Read returned no error after the remote transport closed")
	}
}

func testOpenStreamClosedPeer(t *testing.T, c *Cluster) {
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, EchoHandler(nil)); err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	if err := c.Node(2).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := runBounded(t, "OpenStream to a closed peer", func() error {
		s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt)
		if err != nil {
			return nil
		}
		defer s.Close()
		if _, err := s.Read(make([]byte, 1)); err == nil {
			return errors.New("stream to a closed peer carried data")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testOpenStreamContext(t *testing.T, c *Cluster) {
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, EchoHandler(nil)); err != nil {
		t.Fatalf("HandleStream: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := runBounded(t, "OpenStream with a cancelled context", func() error {
		s, err := c.Streams(1).OpenStream(ctx, c.Peer(2), raftcore.ProtocolMgmt)
		if err == nil {
			_ = s.Close()
		}
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("OpenStream with a cancelled context returned %v, want context.Canceled", err)
	}
}
