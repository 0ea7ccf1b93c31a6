package raftcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math/bits"
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
	ids   idSet
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
		w = &proposalWindow{}
		a.byOrigin[origin] = w
	}
	if w.ids.has(id) {
		return false
	}
	if len(w.order) < dedupWindow {
		w.order = append(w.order, id)
	} else {
		w.ids.remove(w.order[w.head])
		w.order[w.head] = id
		w.head = (w.head + 1) % dedupWindow
	}
	w.ids.add(id)
	return true
}

// idSet is a set of uint64 with open addressing and linear probing, kept at
// most half full. A Go map used as a sliding window (one delete per insert)
// fills with tombstones, and every lookup of a new id then probes long
// chains; removing by backward shift leaves none.
type idSet struct {
	slots []uint64 // 0 marks an empty slot; len is a power of two
	n     int      // ids held in slots
	zero  bool     // whether id 0 is held
}

func (s *idSet) home(id uint64) int {
	// Fibonacci hashing spreads the consecutive ids a node assigns.
	return int((id * 0x9e3779b97f4a7c15) >> (64 - bits.Len(uint(len(s.slots)-1))))
}

// find returns the slot holding id, or the empty slot where it would go.
func (s *idSet) find(id uint64) (int, bool) {
	mask := len(s.slots) - 1
	for i := s.home(id); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case id:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (s *idSet) has(id uint64) bool {
	if id == 0 {
		return s.zero
	}
	if s.n == 0 {
		return false
	}
	_, ok := s.find(id)
	return ok
}

// add inserts id, which the set must not hold.
func (s *idSet) add(id uint64) {
	if id == 0 {
		s.zero = true
		return
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	i, _ := s.find(id)
	s.slots[i] = id
	s.n++
}

func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(16, 2*len(old)))
	for _, id := range old {
		if id != 0 {
			i, _ := s.find(id)
			s.slots[i] = id
		}
	}
}

func (s *idSet) remove(id uint64) {
	if id == 0 {
		s.zero = false
		return
	}
	if s.n == 0 {
		return
	}
	i, ok := s.find(id)
	if !ok {
		return
	}
	s.n--
	// Shift back the ids after i that would no longer be found past the
	// hole: those whose home is not cyclically within (i, j].
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		h := s.home(s.slots[j])
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = 0
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
