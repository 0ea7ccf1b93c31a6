package transportmem_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

func TestConfigValidateRejectsOutOfRangeFields(t *testing.T) {
	tests := []struct {
		name string
		cfg  transportmem.NetworkConfig
	}{
		{"NegativeQueueSize", transportmem.NetworkConfig{QueueSize: -1}},
		{"NegativeMaxBatch", transportmem.NetworkConfig{MaxBatch: -1}},
		{"NegativeStreamBuffer", transportmem.NetworkConfig{StreamBuffer: -1}},
		{"DropAboveOne", transportmem.NetworkConfig{Faults: transportmem.Faults{Drop: 1.5}}},
		{"NegativeDuplicate", transportmem.NetworkConfig{Faults: transportmem.Faults{Duplicate: -0.1}}},
		{"NotANumberReorder", transportmem.NetworkConfig{Faults: transportmem.Faults{Reorder: nan()}}},
		{"NegativeDelay", transportmem.NetworkConfig{Faults: transportmem.Faults{Delay: -time.Second}}},
		{"NegativeJitter", transportmem.NetworkConfig{Faults: transportmem.Faults{Jitter: -time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := transportmem.NewNetwork(tt.cfg); !errors.Is(err, transportmem.ErrInvalidConfig) {
				t.Errorf("NewNetwork returned %v, want ErrInvalidConfig", err)
			}
		})
	}
	net := newNetwork(t, transportmem.NetworkConfig{})
	if err := net.SetLinkFaults(1, 2, transportmem.Faults{Drop: 2}); !errors.Is(err, transportmem.ErrInvalidConfig) {
		t.Errorf("SetLinkFaults returned %v, want ErrInvalidConfig", err)
	}
	if err := net.SetFaults(transportmem.Faults{Jitter: -1}); !errors.Is(err, transportmem.ErrInvalidConfig) {
		t.Errorf("SetFaults returned %v, want ErrInvalidConfig", err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestZeroSeedPicksARandomSeed(t *testing.T) {
	a, b := newNetwork(t, transportmem.NetworkConfig{}), newNetwork(t, transportmem.NetworkConfig{})
	if a.Seed() == 0 || a.Seed() == b.Seed() {
		t.Errorf("seeds %d and %d, want two distinct non-zero seeds", a.Seed(), b.Seed())
	}
	if s := newNetwork(t, transportmem.NetworkConfig{Seed: 99}).Seed(); s != 99 {
		t.Errorf("Seed() = %d, want the configured 99", s)
	}
}

func TestTransportAddressesAreExclusiveUntilClose(t *testing.T) {
	net := newNetwork(t, transportmem.NetworkConfig{})
	first, err := net.Transport(raftcore.Peer{ID: 1, Addr: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Transport(raftcore.Peer{ID: 2, Addr: "node-a"}); !errors.Is(err, transportmem.ErrAddrInUse) {
		t.Errorf("second transport on the same address: %v, want ErrAddrInUse", err)
	}
	if _, err := net.Transport(raftcore.Peer{ID: 0, Addr: "node-b"}); !errors.Is(err, transportmem.ErrInvalidPeer) {
		t.Errorf("transport with id 0: %v, want ErrInvalidPeer", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := net.Transport(raftcore.Peer{ID: 1, Addr: "node-a"})
	if err != nil {
		t.Fatalf("transport on an address freed by Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if p := mustTransport(t, net, raftcore.Peer{ID: 5}).Peer(); p.Addr != "mem-5" {
		t.Errorf("default address %q, want mem-5", p.Addr)
	}
}

func mustTransport(t *testing.T, net *transportmem.Network, p raftcore.Peer) *transportmem.Transport {
	t.Helper()
	tr, err := net.Transport(p)
	if err != nil {
		t.Fatalf("Transport(%v): %v", p, err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestRestartedNodeGetsMessagesOnItsAddress(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Node(2).Close(); err != nil {
		t.Fatal(err)
	}
	restarted := mustTransport(t, net, c.Peer(2))
	rec := transporttest.NewRecorder()
	if err := restarted.Start(rec); err != nil {
		t.Fatal(err)
	}
	c.Node(1).Send([]*raftpb.Message{transporttest.NewMessage(1, 2, 1, nil)})
	rec.Wait(t, transporttest.WaitTimeout, "message to the restarted node", func(s *transporttest.RecorderState) bool { return s.HasIndex(1, 1) })
}

func TestMessagesToAnotherNodeAtThePeerAddressAreDropped(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Node(2).Close(); err != nil {
		t.Fatal(err)
	}
	impostor := mustTransport(t, net, raftcore.Peer{ID: 9, Addr: c.Peer(2).Addr})
	rec := transporttest.NewRecorder()
	if err := impostor.Start(rec); err != nil {
		t.Fatal(err)
	}
	c.Node(1).Send([]*raftpb.Message{transporttest.NewMessage(1, 2, 1, nil)})
	c.Recorder(1).Wait(t, transporttest.WaitTimeout, "unreachable report", func(s *transporttest.RecorderState) bool { return s.Unreachable(2) > 0 })
	if n := len(rec.Messages()); n != 0 {
		t.Errorf("node 9 received %d messages meant for node 2", n)
	}
}

func TestStartAndAddPeerRejectBadCalls(t *testing.T) {
	tr := mustTransport(t, newNetwork(t, transportmem.NetworkConfig{}), raftcore.Peer{ID: 1})
	if err := tr.Start(nil); !errors.Is(err, transportmem.ErrInvalidConfig) {
		t.Errorf("Start(nil) returned %v, want ErrInvalidConfig", err)
	}
	if err := tr.Start(transporttest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(transporttest.NewRecorder()); !errors.Is(err, transportmem.ErrAlreadyStarted) {
		t.Errorf("second Start returned %v, want ErrAlreadyStarted", err)
	}
	if err := tr.AddPeer(raftcore.Peer{Addr: "x"}); !errors.Is(err, transportmem.ErrInvalidPeer) {
		t.Errorf("AddPeer with id 0 returned %v, want ErrInvalidPeer", err)
	}
}

var errNotWanted = errors.New("snapshot not wanted")

func TestSnapshotOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		handler transporttest.SnapshotFunc
		want    []error // nil: success
	}{
		{"Accepted", func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
			_, err := io.Copy(io.Discard, body)
			return err
		}, nil},
		{"RejectedWrapsReceiverError", func(context.Context, *raftpb.Message, io.Reader) error {
			return errNotWanted
		}, []error{transportmem.ErrSnapshotRejected, errNotWanted}},
		{"AcceptedWithoutReadingToTheEnd", func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
			_, err := io.ReadFull(body, make([]byte, 10))
			return err
		}, []error{transportmem.ErrSnapshotIncomplete}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := startMem(t, transportmem.NetworkConfig{}, 2)
			c.Recorder(2).OnSnapshot(tt.handler)
			body := bytes.NewReader(transporttest.RandomBytes(1, 200<<10))
			err := c.Node(1).SendSnapshot(t.Context(), transporttest.NewSnapshotMessage(1, 2, 5), body)
			if tt.want == nil && err != nil {
				t.Fatalf("SendSnapshot: %v", err)
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("SendSnapshot returned %v, want it to wrap %v", err, want)
				}
			}
		})
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestSnapshotBodyErrorFailsBothEnds(t *testing.T) {
	_, c := startMem(t, transportmem.NetworkConfig{}, 2)
	errDisk := errors.New("disk read failed")
	receiverErr := make(chan error, 1)
	c.Recorder(2).OnSnapshot(func(_ context.Context, _ *raftpb.Message, body io.Reader) error {
		_, err := io.Copy(io.Discard, body)
		receiverErr <- err
		return err
	})
	body := io.MultiReader(bytes.NewReader([]byte("partial")), failingReader{errDisk})
	if err := c.Node(1).SendSnapshot(t.Context(), transporttest.NewSnapshotMessage(1, 2, 5), body); !errors.Is(err, errDisk) {
		t.Errorf("SendSnapshot returned %v, want the body's error", err)
	}
	if err := transporttest.WaitClosed(t, receiverErr, transporttest.WaitTimeout, "receiver"); err == nil {
		t.Error("receiver read a body whose sender failed to the end without error")
	}
}

func TestSnapshotToNodeThatIsDownFails(t *testing.T) {
	_, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Node(2).Close(); err != nil {
		t.Fatal(err)
	}
	err := c.Node(1).SendSnapshot(t.Context(), transporttest.NewSnapshotMessage(1, 2, 5), bytes.NewReader(nil))
	if !errors.Is(err, transportmem.ErrUnreachable) {
		t.Errorf("SendSnapshot returned %v, want ErrUnreachable", err)
	}
}

func TestOpenStreamChecksTheRemoteIdentity(t *testing.T) {
	_, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		to   raftcore.Peer
		want error
	}{
		{"WrongID", raftcore.Peer{ID: 3, Addr: c.Peer(2).Addr}, transportmem.ErrUnreachable},
		{"WrongKey", raftcore.Peer{ID: 2, Addr: c.Peer(2).Addr, Key: []byte("other")}, transportmem.ErrUnreachable},
		{"UnknownAddress", raftcore.Peer{ID: 2, Addr: "nowhere"}, transportmem.ErrUnreachable},
		{"AddressOnly", raftcore.Peer{Addr: c.Peer(2).Addr}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Streams(1).OpenStream(t.Context(), tt.to, raftcore.ProtocolMgmt)
			if s != nil {
				_ = s.Close()
			}
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Errorf("OpenStream(%v) returned %v, want %v", tt.to, err, tt.want)
			}
		})
	}
}

func TestStreamRemoteHasNoIDWhenNotAPeer(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 1)
	stranger := mustTransport(t, net, raftcore.Peer{ID: 9, Addr: "stranger"})
	remotes := make(chan raftcore.Peer, 1)
	if err := c.Streams(1).HandleStream(raftcore.ProtocolDiscovery, transporttest.EchoHandler(remotes)); err != nil {
		t.Fatal(err)
	}
	s, err := stranger.OpenStream(t.Context(), c.Peer(1), raftcore.ProtocolDiscovery)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	defer s.Close()
	remote := transporttest.WaitClosed(t, remotes, transporttest.WaitTimeout, "handler's remote")
	if remote.ID != 0 || remote.Addr != "stranger" {
		t.Errorf("handler's Remote() = %+v, want id 0 at address stranger", remote)
	}
	if s.Remote().ID != 0 {
		t.Errorf("opener's Remote().ID = %d, want 0: node 1 is not its peer", s.Remote().ID)
	}
}

func TestStreamOperationsAfterClose(t *testing.T) {
	_, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Streams(2).HandleStream(raftcore.ProtocolMgmt, transporttest.EchoHandler(nil)); err != nil {
		t.Fatal(err)
	}
	s, err := c.Streams(1).OpenStream(t.Context(), c.Peer(2), raftcore.ProtocolMgmt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, transportmem.ErrStreamClosed) {
		t.Errorf("Write after Close returned %v, want ErrStreamClosed", err)
	}
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, transportmem.ErrStreamClosed) {
		t.Errorf("Read after Close returned %v, want ErrStreamClosed", err)
	}
}

func TestAddPeerUpdatesTheAddress(t *testing.T) {
	net, c := startMem(t, transportmem.NetworkConfig{}, 2)
	if err := c.Node(2).Close(); err != nil {
		t.Fatal(err)
	}
	moved := mustTransport(t, net, raftcore.Peer{ID: 2, Addr: "moved"})
	rec := transporttest.NewRecorder()
	if err := moved.Start(rec); err != nil {
		t.Fatal(err)
	}
	if err := c.Node(1).AddPeer(moved.Peer()); err != nil {
		t.Fatalf("AddPeer with a new address: %v", err)
	}
	c.Node(1).Send([]*raftpb.Message{transporttest.NewMessage(1, 2, 1, nil)})
	rec.Wait(t, transporttest.WaitTimeout, "message at the new address", func(s *transporttest.RecorderState) bool { return s.HasIndex(1, 1) })
}
