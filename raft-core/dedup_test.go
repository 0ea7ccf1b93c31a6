package raftcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/jangada-io/jangada/raft-core/testseed"
	"go.etcd.io/raft/v3/raftpb"
)

func TestAppliedProposalsAdmitsEachProposalOnce(t *testing.T) {
	const w = 8
	a := newAppliedProposals(w)
	steps := []struct {
		origin uint64
		id     proposalID
		want   admission
	}{
		{1, proposalID{10, 1}, admitted},
		{1, proposalID{10, 1}, duplicate},
		{2, proposalID{10, 1}, admitted}, // another node's proposal
		{1, proposalID{10, 3}, admitted}, // out of order: 2 is still open
		{1, proposalID{10, 2}, admitted},
		{1, proposalID{10, 3}, duplicate},
		{1, proposalID{10, 12}, admitted}, // the window is now (4, 12]
		{1, proposalID{10, 4}, pastWindow},
		{1, proposalID{10, 5}, admitted}, // inside, never applied
		{1, proposalID{10, 5}, duplicate},
		{1, proposalID{9, 13}, staleEpoch},
		{1, proposalID{11, 1}, admitted}, // a new incarnation starts afresh
		{1, proposalID{11, 1}, duplicate},
		{1, proposalID{10, 13}, staleEpoch}, // the old one's late proposal
		{1, proposalID{11, 100}, admitted},
		{1, proposalID{11, 92}, pastWindow},
		{1, proposalID{11, 93}, admitted},
	}
	for i, st := range steps {
		if got := a.admit(st.origin, st.id); got != st.want {
			t.Fatalf("step %d: admit(%d, %+v) = %v, want %v", i, st.origin, st.id, got, st.want)
		}
	}
}

// dedupModel is the specification of appliedProposals with unbounded memory:
// every id ever applied.
type dedupModel struct {
	window  uint64
	epoch   map[uint64]uint64 // origin -> highest epoch applied
	high    map[uint64]uint64 // origin -> highest sequence applied in it
	applied map[uint64]map[proposalID]bool
}

func newDedupModel(window uint64) *dedupModel {
	return &dedupModel{window: window, epoch: map[uint64]uint64{}, high: map[uint64]uint64{}, applied: map[uint64]map[proposalID]bool{}}
}

func (m *dedupModel) admit(origin uint64, id proposalID) admission {
	ep, known := m.epoch[origin]
	switch {
	case known && id.epoch < ep:
		return staleEpoch
	case !known || id.epoch > ep:
		m.epoch[origin], m.high[origin] = id.epoch, 0
	case m.high[origin] >= m.window && id.seq <= m.high[origin]-m.window:
		return pastWindow
	case m.applied[origin][id]:
		return duplicate
	}
	if m.applied[origin] == nil {
		m.applied[origin] = map[proposalID]bool{}
	}
	m.applied[origin][id] = true
	m.high[origin] = max(m.high[origin], id.seq)
	return admitted
}

// TestAppliedProposalsAgreeWithAModel feeds random histories of proposals
// (copies delivered late, out of order and twice; incarnations restarting
// with higher or, after the clock went back, lower epochs) to the bounded
// state and to the unbounded model, which must decide alike; no id may be
// admitted twice; and a state restored from a snapshot at any point must go
// on deciding alike.
func TestAppliedProposalsAgreeWithAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	for run := range 200 {
		window := uint64(1 + rng.IntN(70))
		a, model := newAppliedProposals(window), newDedupModel(window)
		once := map[uint64]map[proposalID]bool{}
		type proposer struct{ epoch, seq uint64 }
		proposers := map[uint64]*proposer{}
		var inflight []struct {
			origin uint64
			id     proposalID
		}
		for step := range 3000 {
			origin := uint64(1 + rng.IntN(3))
			p := proposers[origin]
			switch r := rng.IntN(100); {
			case p == nil || r < 2: // a new incarnation, usually above the last
				epoch := uint64(1 + rng.IntN(1000))
				if p != nil && rng.IntN(4) > 0 {
					epoch = p.epoch + uint64(1+rng.IntN(3))
				}
				p = &proposer{epoch: epoch}
				proposers[origin] = p
			case r < 45: // a new proposal, in flight once or twice
				p.seq++
				for range 1 + rng.IntN(2) {
					inflight = append(inflight, struct {
						origin uint64
						id     proposalID
					}{origin, proposalID{p.epoch, p.seq}})
				}
			case r < 50 && len(inflight) > 0: // a snapshot round trip
				var buf bytes.Buffer
				if err := a.writeTo(&buf); err != nil {
					t.Fatal(err)
				}
				b, err := readAppliedProposals(&buf, window)
				if err != nil {
					t.Fatalf("run %d step %d: %v", run, step, err)
				}
				a = b
			case len(inflight) > 0: // a delivery, mostly of a recent copy
				i := len(inflight) - 1 - rng.IntN(min(len(inflight), 8))
				if rng.IntN(10) == 0 {
					i = rng.IntN(len(inflight))
				}
				c := inflight[i]
				inflight = append(inflight[:i], inflight[i+1:]...)
				got, want := a.admit(c.origin, c.id), model.admit(c.origin, c.id)
				if got != want {
					t.Fatalf("run %d (window %d) step %d: admit(%d, %+v) = %v, the model says %v", run, window, step, c.origin, c.id, got, want)
				}
				if got == admitted {
					if once[c.origin][c.id] {
						t.Fatalf("run %d step %d: (%d, %+v) admitted twice", run, step, c.origin, c.id)
					}
					if once[c.origin] == nil {
						once[c.origin] = map[proposalID]bool{}
					}
					once[c.origin][c.id] = true
				}
			}
		}
	}
}

func TestAppliedProposalsSurviveSnapshots(t *testing.T) {
	const w = 64
	a := newAppliedProposals(w)
	for seq := uint64(1); seq <= w+40; seq++ {
		if seq%7 != 0 { // leave holes
			a.admit(7, proposalID{3, seq})
		}
	}
	a.admit(3, proposalID{1 << 60, 42})
	var buf bytes.Buffer
	if err := a.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	b, err := readAppliedProposals(bytes.NewReader(data), w)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= w+45; seq++ {
		id := proposalID{3, seq}
		if got, want := b.admit(7, id), a.admit(7, id); got != want {
			t.Fatalf("sequence %d: restored state says %v, the original %v", seq, got, want)
		}
	}
	if b.admit(3, proposalID{1 << 60, 42}) != duplicate || b.admit(3, proposalID{1<<60 - 1, 1}) != staleEpoch {
		t.Fatal("restored state forgot node 3's proposal or epoch")
	}
	if _, err := readAppliedProposals(bytes.NewReader(data), w+1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a snapshot with another dedup window was read: %v", err)
	}
	for n := range len(data) {
		if _, err := readAppliedProposals(bytes.NewReader(data[:n]), w); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a snapshot cut to %d of %d bytes was read: %v", n, len(data), err)
		}
	}
}

func FuzzReadAppliedProposals(f *testing.F) {
	a := newAppliedProposals(16)
	a.admit(1, proposalID{2, 3})
	a.admit(1, proposalID{2, 9})
	var buf bytes.Buffer
	_ = a.writeTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readAppliedProposals(bytes.NewReader(data), 16)
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := b.writeTo(&again); err != nil {
			t.Fatal(err)
		}
		encoded := bytes.Clone(again.Bytes())
		c, err := readAppliedProposals(&again, 16)
		if err != nil {
			t.Fatalf("re-encoded state unreadable: %v", err)
		}
		var third bytes.Buffer
		_ = c.writeTo(&third)
		if !bytes.Equal(encoded, third.Bytes()) {
			t.Fatal("encoding is not stable")
		}
	})
}

// TestRefusedProposalFailsItsCall: the proposer of an entry that can never
// apply learns it when it applies the entry, with ErrProposalDropped.
func TestRefusedProposalFailsItsCall(t *testing.T) {
	e := newTestEngine(t, 5<<epochSaltBits|77)
	e.proposals = newAppliedProposals(4)
	wait := func(p *proposal) { e.waiters.add(p) }
	behind := e.newCommand(nil)
	wait(behind)
	for range 4 {
		p := e.newCommand(nil)
		if apply, _ := e.admit(e.id, proposalID{p.epoch, p.id}); !apply {
			t.Fatal("a new proposal was refused")
		}
	}
	apply, fail := e.admit(e.id, proposalID{behind.epoch, behind.id})
	if apply || fail == nil {
		t.Fatalf("a proposal 4 behind with a window of 4: apply=%v, its call not failed", apply)
	}
	fail()
	if res := <-behind.done; !errors.Is(res.err, ErrProposalDropped) {
		t.Fatalf("refused proposal's call got %v, want ErrProposalDropped", res.err)
	}
}

// TestProposalThatMayHaveAppliedInASnapshotIsNotFailed: a node that
// installed a snapshot cannot tell whether its proposals made before then
// applied inside it; a late copy refused afterwards says nothing about the
// proposal, so its call must not fail as if it had no effect (simulator seed
// 50073 at 10s: a new member's first write applied inside the snapshot it
// joined with, and a copy held back for seconds was refused later).
func TestProposalThatMayHaveAppliedInASnapshotIsNotFailed(t *testing.T) {
	e := newTestEngine(t, 5<<epochSaltBits|77)
	e.proposals = newAppliedProposals(4)
	before := e.newCommand(nil)
	e.waiters.add(before)
	e.restoredProposals() // as a snapshot install does
	after := e.newCommand(nil)
	e.waiters.add(after)
	for range 5 {
		p := e.newCommand(nil)
		e.admit(e.id, proposalID{p.epoch, p.id})
	}
	for _, p := range []*proposal{before, after} {
		if apply, _ := e.admit(e.id, proposalID{p.epoch, p.id}); apply {
			t.Fatalf("proposal %d applied behind the window", p.id)
		}
	}
	if !e.waiters.has(before.id) {
		t.Fatal("the call of a proposal that may have applied in the snapshot was failed")
	}
	if e.waiters.has(after.id) {
		t.Fatal("the call of a proposal made after the snapshot was not failed")
	}
}

// TestEarlierEpochIsRaisedNotLockedOut: an incarnation whose clock went back
// proposes below its node's epoch already applied. Its proposals made until
// it applies that epoch fail; from then on it proposes above it, keeping its
// own salt.
func TestEarlierEpochIsRaisedNotLockedOut(t *testing.T) {
	e := newTestEngine(t, 5<<epochSaltBits|77)
	early := e.newCommand(nil)
	e.waiters.add(early)
	previous := proposalID{epoch: 9<<epochSaltBits | 12, seq: 40}
	if apply, _ := e.admit(e.id, previous); !apply {
		t.Fatal("the previous incarnation's proposal was refused")
	}
	apply, fail := e.admit(e.id, proposalID{early.epoch, early.id})
	if apply || fail == nil {
		t.Fatal("a proposal below the node's applied epoch was not refused")
	}
	fail()
	if res := <-early.done; !errors.Is(res.err, ErrProposalDropped) {
		t.Fatalf("refused proposal's call got %v, want ErrProposalDropped", res.err)
	}
	later := e.newCommand(nil)
	if later.epoch <= previous.epoch || later.epoch&(1<<epochSaltBits-1) != 77 {
		t.Fatalf("epoch after the raise is %#x; want above %#x with salt 77", later.epoch, previous.epoch)
	}
	if apply, _ := e.admit(e.id, proposalID{later.epoch, later.id}); !apply {
		t.Fatal("a proposal made after the raise was refused")
	}
}

// newTestEngine returns node 1's engine, in a cluster of itself and others,
// without a state machine.
func newTestEngine(t *testing.T, epoch uint64, others ...uint64) *engine {
	t.Helper()
	peers := []Peer{{ID: 1}}
	for _, id := range others {
		peers = append(peers, Peer{ID: id})
	}
	cfg := Config{NodeID: 1, Peers: peers, Preset: Testing, Transport: nopTestTransport{}, LogStore: NewMemoryLogStore(), SnapshotStore: NewMemorySnapshotStore()}
	e, err := newEngine(cfg.withDefaults(), nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func BenchmarkAppliedProposals(b *testing.B) {
	a := newAppliedProposals(dedupWindow)
	id := proposalID{epoch: 1 << 40}
	for b.Loop() {
		id.seq++
		a.admit(1, id)
	}
}

// testSeed returns a fresh seed for a randomized test and logs it if the test
// fails, so the failing run can be repeated.
func testSeed(t *testing.T) uint64 { return testseed.Get(t) }

// nopTestTransport only hears about peers.
type nopTestTransport struct{}

func (nopTestTransport) Start(Handler) error                                            { return nil }
func (nopTestTransport) Send([]*raftpb.Message)                                         {}
func (nopTestTransport) AddPeer(Peer) error                                             { return nil }
func (nopTestTransport) RemovePeer(uint64)                                              {}
func (nopTestTransport) Close() error                                                   { return nil }
func (nopTestTransport) SendSnapshot(context.Context, *raftpb.Message, io.Reader) error { return nil }
