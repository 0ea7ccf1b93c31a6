package transporttest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// WaitTimeout bounds every wait of the suite for something that should happen
// promptly (a delivery, a report). Transports that need longer, for example to
// time out a handshake with a peer that is down, get LongWaitTimeout.
const (
	WaitTimeout     = 15 * time.Second
	LongWaitTimeout = 45 * time.Second
)

// SnapshotFunc handles a snapshot delivered to a Recorder.
type SnapshotFunc func(ctx context.Context, msg *raftpb.Message, body io.Reader) error

// ReceivedSnapshot is what a Recorder saw of one accepted snapshot.
type ReceivedSnapshot struct {
	Msg    *raftpb.Message
	Size   int64
	SHA256 [sha256.Size]byte
}

// Recorder is a raftcore.Handler that records what it is given, so that tests
// can wait for deliveries and reports. Its zero value is not usable; create it
// with NewRecorder. All methods are safe for concurrent use.
type Recorder struct {
	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every change
	msgs        []*raftpb.Message
	calls       int
	unreachable map[uint64]int
	snapshots   []ReceivedSnapshot
	onSnapshot  SnapshotFunc
	gate        chan struct{} // when not nil, HandleMessages waits for it to close
	blocked     int           // HandleMessages calls waiting on gate
}

var _ raftcore.Handler = (*Recorder)(nil)

// NewRecorder returns an empty Recorder that accepts every snapshot.
func NewRecorder() *Recorder {
	return &Recorder{
		changed:     make(chan struct{}),
		unreachable: make(map[uint64]int),
	}
}

func (r *Recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// HandleMessages records msgs. While the Recorder is blocked (see Block) it
// waits before recording, like an engine whose inbound queue is stuck.
func (r *Recorder) HandleMessages(msgs []*raftpb.Message) {
	r.mu.Lock()
	r.calls++
	gate := r.gate
	if gate != nil {
		r.blocked++
		r.notifyLocked()
	}
	r.mu.Unlock()
	if gate != nil {
		<-gate
		r.mu.Lock()
		r.blocked--
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, msgs...)
	r.notifyLocked()
	r.mu.Unlock()
}

// HandleSnapshot runs the function set with OnSnapshot, or by default reads
// body to the end and records its size and SHA-256.
func (r *Recorder) HandleSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) error {
	r.mu.Lock()
	fn := r.onSnapshot
	r.mu.Unlock()
	if fn != nil {
		return fn(ctx, msg, body)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		return fmt.Errorf("transporttest: reading snapshot body: %w", err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	r.mu.Lock()
	r.snapshots = append(r.snapshots, ReceivedSnapshot{Msg: msg, Size: n, SHA256: sum})
	r.notifyLocked()
	r.mu.Unlock()
	return nil
}

// ReportUnreachable counts the report for id.
func (r *Recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.unreachable[id]++
	r.notifyLocked()
	r.mu.Unlock()
}

// OnSnapshot replaces the snapshot handling; nil restores the default.
func (r *Recorder) OnSnapshot(fn SnapshotFunc) {
	r.mu.Lock()
	r.onSnapshot = fn
	r.mu.Unlock()
}

// Block makes HandleMessages wait until the returned release function is
// called. Release is idempotent.
func (r *Recorder) Block() (release func()) {
	r.mu.Lock()
	if r.gate == nil {
		r.gate = make(chan struct{})
	}
	r.mu.Unlock()
	return func() { r.releaseGate() }
}

// releaseGate lets blocked and future HandleMessages calls through.
func (r *Recorder) releaseGate() {
	r.mu.Lock()
	gate := r.gate
	r.gate = nil
	r.mu.Unlock()
	if gate != nil {
		close(gate)
	}
}

// Messages returns a copy of the list of messages received so far, in order.
func (r *Recorder) Messages() []*raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*raftpb.Message(nil), r.msgs...)
}

// Calls reports how many times HandleMessages was entered.
func (r *Recorder) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// Unreachable reports how many times id was reported unreachable.
func (r *Recorder) Unreachable(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

// Snapshots returns the snapshots accepted by the default snapshot handling.
func (r *Recorder) Snapshots() []ReceivedSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReceivedSnapshot(nil), r.snapshots...)
}

// Blocked reports how many HandleMessages calls are waiting for a release.
func (r *Recorder) Blocked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocked
}

// Wait waits until cond, evaluated under the Recorder's lock after every
// change, returns true. It fails the test with what after timeout.
func (r *Recorder) Wait(t testing.TB, timeout time.Duration, what string, cond func(r *RecorderState) bool) {
	t.Helper()
	if err := r.WaitContext(t.Context(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// WaitContext is Wait returning an error instead of failing a test, for use
// from goroutines other than the test's.
func (r *Recorder) WaitContext(ctx context.Context, timeout time.Duration, cond func(r *RecorderState) bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := cond(&RecorderState{r: r})
		changed := r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("no result after %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RecorderState is the view of a Recorder given to Wait conditions. It is
// valid only during the call of the condition.
type RecorderState struct{ r *Recorder }

// Messages returns the messages received so far; the slice must not be kept.
func (s *RecorderState) Messages() []*raftpb.Message { return s.r.msgs }

// Unreachable reports how many times id was reported unreachable.
func (s *RecorderState) Unreachable(id uint64) int { return s.r.unreachable[id] }

// Snapshots returns the snapshots accepted so far; the slice must not be kept.
func (s *RecorderState) Snapshots() []ReceivedSnapshot { return s.r.snapshots }

// Blocked reports how many HandleMessages calls are waiting for a release.
func (s *RecorderState) Blocked() int { return s.r.blocked }

// HasIndex reports whether a message from `from` with index idx was received.
func (s *RecorderState) HasIndex(from, idx uint64) bool {
	for _, m := range s.r.msgs {
		if m.GetFrom() == from && m.GetIndex() == idx {
			return true
		}
	}
	return false
}
