package raftcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/jangada-io/jangada/raft-core/internal/knobs"
	"go.etcd.io/raft/v3/raftpb"
)

// A proposal is named by its proposing node (the envelope's origin) and a
// proposalID: the epoch of the proposer's incarnation and a sequence number
// that the incarnation counts up from 1. A proposal reaches the log more
// than once when the network delivers a forwarded MsgProp twice, or when
// the engine proposes it again after an election timeout (reproposeLost)
// while the first copy was only late; every node must apply it once.
//
// Exactly once, for any delay, with bounded memory. Every node applies the
// same log, and decides from the log alone (and from the state a snapshot
// carries), so every node decides alike. Per origin it remembers the highest
// epoch applied, and for that epoch the highest sequence applied (high) and
// which of the dedupWindow sequences up to high applied. An entry is applied
// only if its epoch is the highest seen (or higher: a new incarnation), its
// sequence is above high-dedupWindow, and that sequence has not applied.
// What the memory forgot is exactly what is refused: sequences of older
// epochs and sequences at or below high-dedupWindow, whether or not they
// applied. So no copy applies twice however late it comes, where a window of
// the most recent ids (the earlier design) forgot an id once dedupWindow
// later proposals of its node had applied, and applied a copy arriving
// after that again.
//
// The price is that a proposal may be refused without ever having applied:
// when dedupWindow later proposals of its incarnation applied before it, or
// a later incarnation's proposal applied first (the incarnation that made it
// has then restarted, so nobody waits for it). A refused entry can never
// apply later (high only grows, epochs only rise), so the proposer, which
// sees the same refusal when it applies the entry, fails the waiting call
// with ErrProposalDropped: a definite outcome, and retrying is safe.
//
// Epochs come from the wall clock (Start), so a restarted node normally
// proposes above its previous incarnation. If the clock went back, its
// proposals would all be refused; so when a node applies an entry of its
// own with a higher epoch than its own, or restores a snapshot that holds
// one, it raises its epoch above it (raiseEpoch) and only the proposals made
// before that fail. The low epochSaltBits of an epoch are random per
// incarnation and kept by a raise, so two incarnations never share an epoch
// (which would let one's late entry resolve the other's call with the same
// sequence), even when both raised above the same one.

// dedupWindow is how many sequence numbers are remembered per proposing
// node. It bounds how far behind its node's latest applied proposal a
// proposal may apply: a proposal overtaken by that many later ones of its
// node is refused. Every member must use the same window.
const dedupWindow = 8192

// epochSaltBits is how many low bits of an epoch identify the incarnation.
const epochSaltBits = 20

// proposalID names a proposal among those of its proposing node.
type proposalID struct {
	epoch uint64 // the proposer's incarnation
	seq   uint64 // counts up from 1 within the incarnation
}

// admission is what appliedProposals decides about an entry.
type admission int

const (
	admitted   admission = iota // apply it
	duplicate                   // a copy of a proposal that applied
	staleEpoch                  // an older incarnation's, after a newer one's applied
	pastWindow                  // dedupWindow or more behind its node's latest
)

// appliedProposals is the replicated dedup state: per proposing node, the
// highest epoch applied and a sliding window of the sequences applied in it.
type appliedProposals struct {
	window   uint64
	byOrigin map[uint64]*originProposals
	// restoredAt is, when the state came from a snapshot installed while
	// this node ran, the last sequence this node had handed out by then:
	// its proposals up to it may have applied inside the snapshot, unseen.
	// Not replicated.
	restoredAt uint64
}

type originProposals struct {
	epoch uint64
	high  uint64   // the highest sequence applied in epoch
	seen  []uint64 // bit s%window: sequence s in (high-window, high] applied
}

// engineDedupWindow is the window a new engine uses.
func engineDedupWindow() uint64 {
	if w := knobs.DedupWindow.Load(); w > 0 {
		return w
	}
	return dedupWindow
}

func newAppliedProposals(window uint64) *appliedProposals {
	return &appliedProposals{window: window, byOrigin: map[uint64]*originProposals{}}
}

// admit decides whether the entry proposed by origin as id applies, and
// records it if so.
func (a *appliedProposals) admit(origin uint64, id proposalID) admission {
	o := a.byOrigin[origin]
	switch {
	case o == nil:
		o = &originProposals{epoch: id.epoch, seen: make([]uint64, (a.window+63)/64)}
		a.byOrigin[origin] = o
	case id.epoch < o.epoch:
		return staleEpoch
	case id.epoch > o.epoch:
		o.epoch, o.high = id.epoch, 0
		clear(o.seen)
	}
	if o.high >= a.window && id.seq <= o.high-a.window {
		return pastWindow
	}
	if id.seq <= o.high {
		if o.has(id.seq, a.window) {
			return duplicate
		}
	} else {
		o.slide(id.seq, a.window)
	}
	o.set(id.seq, a.window)
	return admitted
}

func (o *originProposals) has(seq, window uint64) bool {
	b := seq % window
	return o.seen[b/64]&(1<<(b%64)) != 0
}

func (o *originProposals) set(seq, window uint64) {
	b := seq % window
	o.seen[b/64] |= 1 << (b % 64)
}

// slide moves high up to to. The bits of the sequences (high, to] are those
// of the sequences leaving the window, (high-window, to-window]: cleared.
func (o *originProposals) slide(to, window uint64) {
	if to-o.high >= window {
		clear(o.seen)
	} else {
		for s := o.high + 1; s <= to; s++ {
			b := s % window
			o.seen[b/64] &^= 1 << (b % 64)
		}
	}
	o.high = to
}

// low is the lowest sequence the window still covers.
func (o *originProposals) low(window uint64) uint64 {
	if o.high < window {
		return 0
	}
	return o.high - window + 1
}

// writeTo appends the state in a deterministic order: the window, then per
// origin (sorted) its epoch, high and the sequences of the window that did
// not apply (few, usually), ascending, each as the gap from the previous.
func (a *appliedProposals) writeTo(w io.Writer) error {
	var b []byte
	b = binary.AppendUvarint(b, a.window)
	origins := slices.Sorted(maps.Keys(a.byOrigin))
	b = binary.AppendUvarint(b, uint64(len(origins)))
	var missing []uint64
	for _, origin := range origins {
		o := a.byOrigin[origin]
		b = binary.AppendUvarint(b, origin)
		b = binary.AppendUvarint(b, o.epoch)
		b = binary.AppendUvarint(b, o.high)
		missing = missing[:0]
		for s := o.low(a.window); s <= o.high; s++ {
			if !o.has(s, a.window) {
				missing = append(missing, s)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(missing)))
		prev := o.low(a.window)
		for _, s := range missing {
			b = binary.AppendUvarint(b, s-prev)
			prev = s
		}
	}
	b = append(binary.AppendUvarint(nil, uint64(len(b))), b...)
	_, err := w.Write(b)
	return err
}

// readAppliedProposals reads what writeTo wrote. The snapshot's window must
// be the engine's: nodes with different windows would decide differently.
func readAppliedProposals(r io.Reader, window uint64) (*appliedProposals, error) {
	br := byteReader{r}
	size, err := binary.ReadUvarint(br)
	if err != nil || size > maxSnapshotHeader {
		return nil, fmt.Errorf("%w: snapshot proposal window size", ErrCorrupt)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: snapshot proposal window truncated", ErrCorrupt)
	}
	next := func() (uint64, error) {
		v, n := binary.Uvarint(body)
		if n <= 0 {
			return 0, fmt.Errorf("%w: snapshot proposal window", ErrCorrupt)
		}
		body = body[n:]
		return v, nil
	}
	w, err := next()
	if err != nil {
		return nil, err
	}
	if w != window {
		return nil, fmt.Errorf("%w: snapshot written with a dedup window of %d proposals, this node uses %d", ErrCorrupt, w, window)
	}
	a := newAppliedProposals(window)
	origins, err := next()
	if err != nil || origins > uint64(len(body)) {
		return nil, fmt.Errorf("%w: snapshot proposal window origins", ErrCorrupt)
	}
	for range origins {
		var origin, epoch, high, nMissing uint64
		for _, v := range []*uint64{&origin, &epoch, &high, &nMissing} {
			if *v, err = next(); err != nil {
				return nil, err
			}
		}
		if _, dup := a.byOrigin[origin]; dup || nMissing > window || nMissing > uint64(len(body)) {
			return nil, fmt.Errorf("%w: snapshot proposal window of node %d", ErrCorrupt, origin)
		}
		o := &originProposals{epoch: epoch, high: high, seen: make([]uint64, (window+63)/64)}
		for s := o.low(window); s <= high; s++ {
			o.set(s, window)
		}
		prev, first := o.low(window), true
		for range nMissing {
			gap, err := next()
			if err != nil {
				return nil, err
			}
			s := prev + gap
			if (!first && gap == 0) || s < prev || s > high {
				return nil, fmt.Errorf("%w: snapshot proposal window of node %d", ErrCorrupt, origin)
			}
			b := s % window
			o.seen[b/64] &^= 1 << (b % 64)
			prev, first = s, false
		}
		a.byOrigin[origin] = o
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: snapshot proposal window has trailing bytes", ErrCorrupt)
	}
	return a, nil
}

// Errors a proposer's call fails with when its entry is refused.
var (
	errStaleEpoch = fmt.Errorf("%w: an earlier incarnation of this node, whose clock was ahead, had proposals applied with a higher epoch; proposals made from now on use a higher one", ErrProposalDropped)
	errPastWindow = fmt.Errorf("%w: it reached the log after a dedup window's worth of later proposals of this node had applied", ErrProposalDropped)
)

// admit decides whether an entry proposed by origin as id applies (apply
// role). For an entry of this node's that can never apply, it returns a
// function failing the waiting call, to run once smMu is released.
func (e *engine) admit(origin uint64, id proposalID) (apply bool, fail func()) {
	verdict := e.proposals.admit(origin, id)
	if origin != e.id {
		return verdict == admitted, nil
	}
	e.raiseEpoch(id.epoch)
	switch verdict {
	case admitted:
		return true, nil
	case duplicate:
		return false, nil
	}
	if id.seq <= e.proposals.restoredAt {
		// It may have applied inside a snapshot this node installed (its
		// caller then waits for an outcome it can no longer learn): only
		// a proposal made since, whose every applied copy this node would
		// have seen, is known never to have applied.
		return false, nil
	}
	p := e.waiters.take(id)
	if p == nil {
		return false, nil
	}
	err := errPastWindow
	if verdict == staleEpoch {
		err = errStaleEpoch
	}
	return false, func() { p.resolve(proposalResult{err: err}) }
}

// raiseEpoch makes this node propose above epoch seen, an epoch of its own
// found applied, if its own is not already higher (see the comment at the top).
func (e *engine) raiseEpoch(seen uint64) {
	for {
		cur := e.epoch.Load()
		if cur >= seen {
			return
		}
		const salt = 1<<epochSaltBits - 1
		next := (seen>>epochSaltBits+1)<<epochSaltBits | cur&salt
		if e.epoch.CompareAndSwap(cur, next) {
			e.cfg.Logger.Warn("proposal epoch raised above one of an earlier incarnation of this node (clock went back?)", "epoch", next, "seen", seen)
			return
		}
	}
}

// restoredProposals takes in dedup state restored from a snapshot (under
// smMu): this node's epoch rises above its own highest epoch in it, and its
// proposals so far may have applied inside it.
func (e *engine) restoredProposals() {
	e.proposals.restoredAt = e.proposalSeq.Load()
	if o := e.proposals.byOrigin[e.id]; o != nil {
		e.raiseEpoch(o.epoch)
	}
}

// newProposalID returns the id for this node's next proposal.
func (e *engine) newProposalID() proposalID {
	// The sequence first: a call racing a raise may then pair an old epoch
	// with a new sequence (refused, like any proposal of an old epoch), but
	// never reuse a sequence.
	seq := e.proposalSeq.Add(1)
	return proposalID{epoch: e.epoch.Load(), seq: seq}
}

// newCommand returns the proposal of a command with payload.
func (e *engine) newCommand(payload []byte) *proposal {
	id := e.newProposalID()
	data := appendEnvelope(make([]byte, 0, envelopeSize(e.id, id, len(payload))), e.id, id, payload)
	return &proposal{id: id.seq, epoch: id.epoch, data: data, done: make(chan proposalResult, 1)}
}

// newConfChange returns the proposal of a membership change.
func (e *engine) newConfChange(typ raftpb.ConfChangeType, nodeID uint64, peer []byte) *proposal {
	id := e.newProposalID()
	cc := &raftpb.ConfChange{Type: typ.Enum(), NodeId: new(nodeID), Context: appendEnvelope(nil, e.id, id, peer)}
	return &proposal{id: id.seq, epoch: id.epoch, cc: cc, done: make(chan proposalResult, 1)}
}

// take removes and returns the proposal waiting for id, if any. Waiters are
// keyed by sequence, which an engine never reuses; the epoch tells this
// incarnation's proposal from an earlier one's with the same sequence.
func (w *waiters) take(id proposalID) *proposal {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.m[id.seq]
	if p == nil || p.epoch != id.epoch {
		return nil
	}
	delete(w.m, id.seq)
	return p
}
