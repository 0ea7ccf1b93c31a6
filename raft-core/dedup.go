package raftcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
)

// dedupWindow is how many proposal ids are remembered per proposing node.
const dedupWindow = 8192

// appliedProposals remembers, per proposing node, the ids of the proposals
// applied most recently, so that a proposal the network delivered to the
// leader twice (and the leader appended twice) is applied once. Every node
// applies the same log, so every node skips the same copies; the state
// travels in snapshots so a node restored from one decides alike.
type appliedProposals struct {
	byOrigin map[uint64]*proposalWindow
}

type proposalWindow struct {
	ids   map[uint64]struct{}
	order []uint64 // a ring once full; head is the oldest
	head  int
}

func newAppliedProposals() *appliedProposals {
	return &appliedProposals{byOrigin: map[uint64]*proposalWindow{}}
}

// firstTime records (origin, id) and reports whether it was new.
func (a *appliedProposals) firstTime(origin, id uint64) bool {
	w := a.byOrigin[origin]
	if w == nil {
		w = &proposalWindow{ids: map[uint64]struct{}{}}
		a.byOrigin[origin] = w
	}
	if _, dup := w.ids[id]; dup {
		return false
	}
	if len(w.order) < dedupWindow {
		w.order = append(w.order, id)
	} else {
		delete(w.ids, w.order[w.head])
		w.order[w.head] = id
		w.head = (w.head + 1) % dedupWindow
	}
	w.ids[id] = struct{}{}
	return true
}

// writeTo appends the state in a deterministic order: origins sorted, ids
// oldest first.
func (a *appliedProposals) writeTo(w io.Writer) error {
	var b []byte
	origins := slices.Sorted(maps.Keys(a.byOrigin))
	b = binary.AppendUvarint(b, uint64(len(origins)))
	for _, o := range origins {
		win := a.byOrigin[o]
		b = binary.AppendUvarint(b, o)
		b = binary.AppendUvarint(b, uint64(len(win.order)))
		for i := range win.order {
			b = binary.AppendUvarint(b, win.order[(win.head+i)%len(win.order)])
		}
	}
	b = append(binary.AppendUvarint(nil, uint64(len(b))), b...)
	_, err := w.Write(b)
	return err
}

func readAppliedProposals(r io.Reader) (*appliedProposals, error) {
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
	a := newAppliedProposals()
	origins, err := next()
	if err != nil || origins > uint64(len(body)) {
		return nil, fmt.Errorf("%w: snapshot proposal window origins", ErrCorrupt)
	}
	for range origins {
		o, err := next()
		if err != nil {
			return nil, err
		}
		n, err := next()
		if err != nil || n > dedupWindow {
			return nil, fmt.Errorf("%w: snapshot proposal window length", ErrCorrupt)
		}
		for range n {
			id, err := next()
			if err != nil {
				return nil, err
			}
			a.firstTime(o, id)
		}
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: snapshot proposal window has trailing bytes", ErrCorrupt)
	}
	return a, nil
}
