package raftcore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

// counter adds each command to a total and returns the new total, so a
// command applied twice shows.
type counter struct {
	total   int64
	applies int
}

func (c *counter) Apply(_ uint64, add int64) int64 {
	c.total += add
	c.applies++
	return c.total
}

func (c *counter) Snapshot(w io.Writer) error {
	return binary.Write(w, binary.BigEndian, c.total)
}

func (c *counter) Restore(r io.Reader) error {
	return binary.Read(r, binary.BigEndian, &c.total)
}

type counterCmd = raftcore.SessionCommand[int64]

func newCounterSessions(cfg raftcore.SessionConfig) (*raftcore.Sessions[int64, int64], *counter) {
	c := &counter{}
	return raftcore.NewSessions[int64, int64](c, clustertest.JSONCodec[int64]{}, cfg), c
}

// at is a log time, in seconds from zero.
func at(sec int) int64 { return int64(sec) * int64(time.Second) }

func TestSessionCommandAppliesOnceAndCopiesGetItsResult(t *testing.T) {
	s, c := newCounterSessions(raftcore.SessionConfig{})
	id := s.Apply(1, counterCmd{Op: raftcore.SessionRegister, Time: at(1)}).Session
	if id != 1 {
		t.Fatalf("session id %d, want the registration's index 1", id)
	}
	first := s.Apply(2, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 5, Time: at(2)})
	s.Apply(3, counterCmd{Op: raftcore.SessionNone, Cmd: 100})
	again := s.Apply(4, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 5, Time: at(3)})
	if first.Err != nil || first.Value != 5 || first.Duplicate {
		t.Fatalf("first apply: %+v", first)
	}
	if again.Err != nil || again.Value != 5 || !again.Duplicate {
		t.Fatalf("copy: %+v, want the first result (5) flagged as a duplicate", again)
	}
	if c.total != 105 || c.applies != 2 {
		t.Fatalf("total %d after %d applies, want 105 after 2", c.total, c.applies)
	}
	// Acknowledging seq 1 forgets its result: a later copy is refused.
	s.Apply(5, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 2, Acked: 1, Cmd: 1})
	if res := s.Apply(6, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 5}); !errors.Is(res.Err, raftcore.ErrSessionResultForgotten) {
		t.Fatalf("copy of an acknowledged command: %+v, want ErrSessionResultForgotten", res)
	}
	if c.total != 106 {
		t.Fatalf("total %d, want 106", c.total)
	}
}

func TestSessionsRefuseWhatTheyCannotDecideSafely(t *testing.T) {
	s, c := newCounterSessions(raftcore.SessionConfig{MaxPending: 2})
	id := s.Apply(1, counterCmd{Op: raftcore.SessionRegister}).Session
	tests := []struct {
		name string
		cmd  counterCmd
		want error
	}{
		{"unknown session", counterCmd{Op: raftcore.SessionCall, Session: 99, Seq: 1, Cmd: 1}, raftcore.ErrSessionUnknown},
		{"first pending", counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 1}, nil},
		{"second pending", counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 3, Cmd: 1}, nil},
		{"third pending", counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 2, Cmd: 1}, raftcore.ErrSessionBusy},
		{"after an ack", counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 2, Acked: 1, Cmd: 1}, nil},
		{"unregister", counterCmd{Op: raftcore.SessionUnregister, Session: id}, nil},
		{"closed session", counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 4, Cmd: 1}, raftcore.ErrSessionUnknown},
	}
	for i, tt := range tests {
		if res := s.Apply(uint64(i+2), tt.cmd); !errors.Is(res.Err, tt.want) || (tt.want == nil && res.Err != nil) {
			t.Fatalf("%s: %+v, want error %v", tt.name, res, tt.want)
		}
	}
	if c.applies != 3 {
		t.Fatalf("%d applies, want 3", c.applies)
	}
}

func TestSessionsExpireByLogTimeAndCount(t *testing.T) {
	s, c := newCounterSessions(raftcore.SessionConfig{SessionTTL: 10 * time.Second, MaxSessions: 2})
	a := s.Apply(1, counterCmd{Op: raftcore.SessionRegister, Time: at(0)}).Session
	b := s.Apply(2, counterCmd{Op: raftcore.SessionRegister, Time: at(5)}).Session
	// Log time 12: a (idle since 0) has expired, b (5) has not. A command
	// without a time does not move the log's clock.
	s.Apply(3, counterCmd{Op: raftcore.SessionNone, Cmd: 1, Time: at(12)})
	s.Apply(4, counterCmd{Op: raftcore.SessionNone, Cmd: 1})
	if res := s.Apply(5, counterCmd{Op: raftcore.SessionCall, Session: a, Seq: 1, Cmd: 1}); !errors.Is(res.Err, raftcore.ErrSessionUnknown) {
		t.Fatalf("expired session: %+v", res)
	}
	if res := s.Apply(6, counterCmd{Op: raftcore.SessionCall, Session: b, Seq: 1, Cmd: 1}); res.Err != nil {
		t.Fatalf("live session: %+v", res)
	}
	// Two more registrations: the least recently used (b) goes.
	s.Apply(7, counterCmd{Op: raftcore.SessionRegister})
	s.Apply(8, counterCmd{Op: raftcore.SessionRegister})
	if res := s.Apply(9, counterCmd{Op: raftcore.SessionCall, Session: b, Seq: 1, Cmd: 1}); !errors.Is(res.Err, raftcore.ErrSessionUnknown) {
		t.Fatalf("evicted session: %+v", res)
	}
	if c.total != 3 {
		t.Fatalf("total %d, want 3", c.total)
	}
}

func TestIdempotencyKeysApplyOnceWhileRemembered(t *testing.T) {
	s, c := newCounterSessions(raftcore.SessionConfig{KeyTTL: 10 * time.Second, MaxKeys: 2})
	keyed := func(index uint64, key string, sec int) raftcore.SessionResult[int64] {
		return s.Apply(index, counterCmd{Op: raftcore.SessionKeyed, Key: key, Cmd: 1, Time: at(sec)})
	}
	if r := keyed(1, "x", 0); r.Duplicate || r.Value != 1 {
		t.Fatalf("first x: %+v", r)
	}
	if r := keyed(2, "x", 9); !r.Duplicate || r.Value != 1 {
		t.Fatalf("copy of x within its lifetime: %+v", r)
	}
	keyed(3, "y", 9)
	keyed(4, "z", 9) // the third key: x, the oldest, is forgotten
	if r := keyed(5, "x", 9); r.Duplicate {
		t.Fatalf("x after it was forgotten: %+v, want a new apply", r)
	}
	if r := keyed(6, "y", 20); r.Duplicate {
		t.Fatalf("y after its lifetime: %+v, want a new apply", r)
	}
	if c.applies != 5 {
		t.Fatalf("%d applies, want 5", c.applies)
	}
}

func TestSessionStateTravelsInSnapshots(t *testing.T) {
	s, _ := newCounterSessions(raftcore.SessionConfig{})
	id := s.Apply(1, counterCmd{Op: raftcore.SessionRegister, Time: at(1)}).Session
	s.Apply(2, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 7})
	s.Apply(3, counterCmd{Op: raftcore.SessionKeyed, Key: "k", Cmd: 3})
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored, c := newCounterSessions(raftcore.SessionConfig{})
	if err := restored.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := restored.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Fatal("a restored state snapshots to different bytes")
	}
	if r := restored.Apply(4, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 7}); !r.Duplicate || r.Value != 7 {
		t.Fatalf("session copy after restore: %+v", r)
	}
	if r := restored.Apply(5, counterCmd{Op: raftcore.SessionKeyed, Key: "k", Cmd: 3}); !r.Duplicate || r.Value != 10 {
		t.Fatalf("keyed copy after restore: %+v", r)
	}
	if c.applies != 0 || c.total != 10 {
		t.Fatalf("restored machine applied %d commands, total %d; want 0 and 10", c.applies, c.total)
	}
}

func TestCorruptSessionSnapshotIsRefused(t *testing.T) {
	s, _ := newCounterSessions(raftcore.SessionConfig{})
	id := s.Apply(1, counterCmd{Op: raftcore.SessionRegister}).Session
	s.Apply(2, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 7})
	s.Apply(3, counterCmd{Op: raftcore.SessionKeyed, Key: "k", Cmd: 3})
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := snap.Bytes()
	headerLen := int(b[0]) + 1 // the session state is shorter than 128 bytes here
	for cut := range headerLen {
		r, _ := newCounterSessions(raftcore.SessionConfig{})
		if err := r.Restore(bytes.NewReader(b[:cut])); !errors.Is(err, raftcore.ErrCorrupt) {
			t.Fatalf("snapshot cut at %d: %v, want ErrCorrupt", cut, err)
		}
	}
	bad := bytes.Clone(b)
	bad[1] = 99 // the version
	r, _ := newCounterSessions(raftcore.SessionConfig{})
	if err := r.Restore(bytes.NewReader(bad)); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("unknown version: %v, want ErrCorrupt", err)
	}
}

func TestSessionCodecRoundTripsAndRefusesGarbage(t *testing.T) {
	codec := raftcore.SessionCodec[int64]{Inner: clustertest.JSONCodec[int64]{}}
	for _, cmd := range []counterCmd{
		{Op: raftcore.SessionRegister, Time: -5},
		{Op: raftcore.SessionCall, Session: 9, Seq: 3, Acked: 2, Time: at(7), Cmd: 42},
		{Op: raftcore.SessionKeyed, Key: "idem", Cmd: -1},
		{Op: raftcore.SessionNone, Cmd: 1},
	} {
		b, err := codec.Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Decode(b)
		if err != nil || got != cmd {
			t.Fatalf("round trip of %+v: %+v, %v", cmd, got, err)
		}
		for cut := range len(b) - 1 {
			if _, err := codec.Decode(b[:cut]); err == nil && cmd.Op != raftcore.SessionNone {
				t.Fatalf("%+v cut at %d decoded", cmd, cut)
			}
		}
	}
	if _, err := codec.Encode(counterCmd{Op: 77}); err == nil {
		t.Fatal("unknown op encoded")
	}
	if _, err := codec.Decode([]byte{1, 77}); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("unknown op: %v", err)
	}
}

// TestClientRetryThroughAnotherNodeAppliesOnce proposes one session command
// through two nodes, as a client does that retries elsewhere after losing
// the first answer: both copies commit, the state machine applies one, on
// every node, and both proposers get its result. Without a session the
// engine applies both: its own de-duplication only covers copies of one
// node's proposal.
func TestClientRetryThroughAnotherNodeAppliesOnce(t *testing.T) {
	c := newSessionStepperCluster(t)
	propose := func(via uint64, cmd counterCmd) raftcore.SessionResult[int64] {
		var got raftcore.SessionResult[int64]
		var gotErr error
		called := false
		c.nodes[via].Propose(cmd, func(r raftcore.SessionResult[int64], _ uint64, err error) { got, gotErr, called = r, err, true })
		c.settle()
		if !called || gotErr != nil {
			t.Fatalf("propose through %d: called=%v err=%v", via, called, gotErr)
		}
		return got
	}
	id := propose(1, counterCmd{Op: raftcore.SessionRegister}).Session
	call := counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 5}
	first, retry := propose(2, call), propose(3, call)
	if first.Duplicate || !retry.Duplicate || first.Value != 5 || retry.Value != 5 {
		t.Fatalf("first %+v, retry %+v: want 5 then the same 5 as a duplicate", first, retry)
	}
	plain := counterCmd{Op: raftcore.SessionNone, Cmd: 1}
	propose(2, plain)
	propose(3, plain)
	for id, m := range c.counters {
		if m.total != 7 || m.applies != 3 {
			t.Fatalf("node %d: total %d after %d applies, want 7 after 3", id, m.total, m.applies)
		}
	}
}

type sessionStepperCluster struct {
	t        *testing.T
	nodes    map[uint64]*raftcore.Stepper[counterCmd, raftcore.SessionResult[int64]]
	counters map[uint64]*counter
	inflight []*raftpb.Message
}

// newSessionStepperCluster is newStepperCluster for a counter behind
// Sessions.
func newSessionStepperCluster(t *testing.T) *sessionStepperCluster {
	peers := []raftcore.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	c := &sessionStepperCluster{
		t:        t,
		nodes:    map[uint64]*raftcore.Stepper[counterCmd, raftcore.SessionResult[int64]]{},
		counters: map[uint64]*counter{},
	}
	for _, p := range peers {
		sm, m := newCounterSessions(raftcore.SessionConfig{})
		s, err := raftcore.NewStepper(raftcore.Config{
			NodeID: p.ID, Peers: peers, Preset: raftcore.Testing, Transport: stepTransport{},
			LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, sm, raftcore.SessionCodec[int64]{Inner: clustertest.JSONCodec[int64]{}}, p.ID<<32)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[p.ID], c.counters[p.ID] = s, m
	}
	for tick := 0; c.nodes[1].Leader() == 0 && tick < 1000; tick++ {
		c.nodes[1].Tick()
		c.settle()
	}
	if c.nodes[1].Leader() == 0 {
		t.Fatal("no leader after 1000 ticks")
	}
	return c
}

// settle runs the cluster until nothing moves, every message delivered and
// all storage work done at once.
func (c *sessionStepperCluster) settle() {
	for range 1000 {
		progress := false
		for _, id := range []uint64{1, 2, 3} {
			s := c.nodes[id]
			out := s.Ready()
			c.inflight = append(c.inflight, out.Messages...)
			if len(out.Persist) > 0 {
				resps, err := s.Persist(out.Persist)
				if err != nil {
					c.t.Fatal(err)
				}
				c.inflight = append(c.inflight, resps...)
			}
			for _, m := range out.Apply {
				resps, err := s.Apply(m)
				if err != nil {
					c.t.Fatal(err)
				}
				c.inflight = append(c.inflight, resps...)
			}
			progress = progress || len(out.Messages)+len(out.Persist)+len(out.Apply) > 0
		}
		msgs := c.inflight
		c.inflight = nil
		for _, m := range msgs {
			c.nodes[m.GetTo()].Step(m)
			progress = true
		}
		if !progress {
			return
		}
	}
}

// flakyProposer applies through p, and loses the answer of the first
// attempt of every command: the client cannot tell whether it applied.
type flakyProposer struct {
	s    *raftcore.Sessions[int64, int64]
	seen map[uint64]bool
}

func (f *flakyProposer) Propose(_ context.Context, cmd counterCmd) (raftcore.SessionResult[int64], error) {
	res := f.s.Apply(uint64(len(f.seen)+100), cmd)
	if cmd.Op == raftcore.SessionCall && !f.seen[cmd.Seq] {
		f.seen[cmd.Seq] = true
		return raftcore.SessionResult[int64]{}, fmt.Errorf("connection reset")
	}
	return res, nil
}

func TestSessionClientRetriesUntilItHasTheResult(t *testing.T) {
	s, c := newCounterSessions(raftcore.SessionConfig{})
	p := &flakyProposer{s: s, seen: map[uint64]bool{}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client, err := raftcore.NewSessionClient(ctx, raftcore.SessionClientConfig[int64, int64]{
		Proposers: []raftcore.Proposer[counterCmd, raftcore.SessionResult[int64]]{p, p},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, err := client.Do(ctx, 10)
		if err != nil || got != int64(10*(i+1)) {
			t.Fatalf("command %d: %d, %v", i+1, got, err)
		}
	}
	if c.applies != 3 {
		t.Fatalf("%d applies for 3 commands each sent twice, want 3", c.applies)
	}
	if err := client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Do(ctx, 1); !errors.Is(err, raftcore.ErrSessionUnknown) {
		t.Fatalf("after close: %v, want ErrSessionUnknown", err)
	}
}
