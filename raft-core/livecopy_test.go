package raftcore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// patternMachine's snapshot is size bytes that depend on the applied
// index. Armed, its next snapshot stops after half of them until released.
type patternMachine struct {
	size int

	mu       sync.Mutex
	applied  uint64
	halfway  chan struct{} // closed when an armed snapshot is half written
	release  chan struct{}
	snapshot int // snapshots written
}

func (m *patternMachine) Apply(index uint64, _ string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied = index
	return 0
}

func (m *patternMachine) arm() (halfway, release chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.halfway, m.release = make(chan struct{}), make(chan struct{})
	return m.halfway, m.release
}

func (m *patternMachine) Snapshot(w io.Writer) error {
	m.mu.Lock()
	state := pattern(m.applied, m.size)
	halfway, release := m.halfway, m.release
	m.halfway, m.release = nil, nil
	m.snapshot++
	m.mu.Unlock()
	for off := 0; off < len(state); off += 64 << 10 {
		if halfway != nil && off >= len(state)/2 {
			close(halfway)
			<-release
			halfway = nil
		}
		if _, err := w.Write(state[off:min(off+64<<10, len(state))]); err != nil {
			return err
		}
	}
	return nil
}

func (m *patternMachine) Restore(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// pattern is the state of a patternMachine at index.
func pattern(index uint64, size int) []byte {
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(uint64(i)*7 + index + uint64(i>>12))
	}
	return out
}

type stringCodec struct{}

func (stringCodec) Encode(s string) ([]byte, error) { return []byte(s), nil }
func (stringCodec) Decode(b []byte) (string, error) { return string(b), nil }

func startPatternNode(t *testing.T, ctx context.Context, size int) (*raftcore.Node[string, int], *patternMachine, raftcore.SnapshotStore) {
	t.Helper()
	network := clustertest.NewLoopback(t)
	sm := &patternMachine{size: size}
	ss := raftcore.NewMemorySnapshotStore()
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{network.Peer(1)}, Preset: raftcore.Testing, DisableAutoSnapshot: true,
		Transport: network.Transport(t, 1), LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: ss,
	}, sm, stringCodec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close(context.Background()) })
	if _, err := node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Propose(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	return node, sm, ss
}

// readWithin reads from r into p (io.ReadFull, or io.ReadAll when p is
// nil) within the test's deadline.
func readWithin(t *testing.T, ctx context.Context, r io.Reader, p []byte) ([]byte, error) {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		if p == nil {
			data, err := io.ReadAll(r)
			done <- result{data, err}
			return
		}
		_, err := io.ReadFull(r, p)
		done <- result{p, err}
	}()
	select {
	case res := <-done:
		return res.data, res.err
	case <-ctx.Done():
		t.Fatal("state copy read did not return before the deadline")
		return nil, nil
	}
}

// A state copy streams while its snapshot is written: the first half is
// read while the state machine has not written the second yet, and the
// whole copy equals the state at its index, which is then a stored
// snapshot.
func TestOpenStateStreamsWhileTheSnapshotIsWritten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const size = 4 << 20
	node, sm, ss := startPatternNode(t, ctx, size)
	halfway, release := sm.arm()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // before the node closes, should the test fail early
	sc, err := node.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	select {
	case <-halfway:
	case <-ctx.Done():
		t.Fatal("the snapshot did not start")
	}
	first, err := readWithin(t, ctx, sc, make([]byte, size/2))
	if err != nil {
		t.Fatalf("reading the first half while the snapshot is being written: %v", err)
	}
	unblock()
	rest, err := readWithin(t, ctx, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, pattern(sc.Meta.Index, size)) {
		t.Fatalf("state copy of %d bytes differs from the state at index %d", len(got), sc.Meta.Index)
	}
	list, err := ss.List()
	if err != nil || len(list) == 0 || list[0].Index != sc.Meta.Index {
		t.Fatalf("stored snapshots %+v (%v), want one at %d", list, err, sc.Meta.Index)
	}
	if len(sc.Members) != 1 || sc.Members[0].ID != 1 {
		t.Fatalf("members %+v, want node 1", sc.Members)
	}

	// Without a new write, the next copy comes from that snapshot.
	again, err := node.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	data, err := readWithin(t, ctx, again, nil)
	if err != nil || again.Meta.Index != sc.Meta.Index || again.Meta.Size == 0 || !bytes.Equal(data, pattern(sc.Meta.Index, size)) {
		t.Fatalf("copy of the stored snapshot: index %d, meta size %d, %d bytes, %v", again.Meta.Index, again.Meta.Size, len(data), err)
	}
	if sm.snapshot != 1 {
		t.Fatalf("%d snapshots written, want 1", sm.snapshot)
	}
}

// A reader that lags further behind than the copy's buffer reads the rest
// from the committed snapshot and gets the same bytes.
func TestOpenStateReaderBehindTheBufferReadsTheRestFromTheSnapshot(t *testing.T) {
	defer raftcore.SetLiveCopyMaxBuffer(1 << 20)()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const size = 8 << 20
	node, _, ss := startPatternNode(t, ctx, size)
	sc, err := node.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for {
		list, err := ss.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 && list[0].Index == sc.Meta.Index {
			break // committed while nothing was read
		}
		select {
		case <-ctx.Done():
			t.Fatal("the snapshot was not committed")
		case <-time.After(5 * time.Millisecond):
		}
	}
	data, err := readWithin(t, ctx, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, pattern(sc.Meta.Index, size)) {
		t.Fatalf("state copy of %d bytes differs from the state at index %d", len(data), sc.Meta.Index)
	}
}

// A copy closed part way leaves the node working: the snapshot is
// committed and the next copy is whole.
func TestOpenStateClosedEarlyLeavesTheNodeWorking(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const size = 2 << 20
	node, _, _ := startPatternNode(t, ctx, size)
	sc, err := node.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readWithin(t, ctx, sc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if _, err := sc.Read(make([]byte, 10)); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read after close: %v, want an error", err)
	}
	if _, err := node.Propose(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	next, err := node.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	data, err := readWithin(t, ctx, next, nil)
	if err != nil || next.Meta.Index <= sc.Meta.Index || !bytes.Equal(data, pattern(next.Meta.Index, size)) {
		t.Fatal(fmt.Errorf("next copy at %d after %d: %d bytes, %v", next.Meta.Index, sc.Meta.Index, len(data), err))
	}
}
