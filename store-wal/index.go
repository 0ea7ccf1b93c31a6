package storewal

import (
	"fmt"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// loc is where an entry's record lies: n bytes at off in segment seq. n is
// 0 for an entry that is missing (only a damaged store has such holes).
type loc struct {
	seq uint64
	off uint32
	n   uint32
}

// index maps the log's entries to their records: locs[i] is entry base+i.
type index struct {
	base uint64
	locs []loc
}

func (x *index) end() uint64 { return x.base + uint64(len(x.locs)) }

func (x *index) get(i uint64) (loc, bool) {
	if i < x.base || i >= x.end() || x.locs[i-x.base].n == 0 {
		return loc{}, false
	}
	return x.locs[i-x.base], true
}

// set records entry i at l. Entries are written in log order: i overwrites
// an entry of the log or extends it by one.
func (x *index) set(i uint64, l loc) error {
	switch {
	case len(x.locs) == 0:
		x.base = i
		x.locs = append(x.locs, l)
	case i >= x.base && i < x.end():
		x.locs[i-x.base] = l
	case i == x.end():
		x.locs = append(x.locs, l)
	default:
		return fmt.Errorf("%w: storewal: entry %d recorded outside the log's entries [%d, %d)", raftcore.ErrCorrupt, i, x.base, x.end())
	}
	return nil
}

func (x *index) remove(i uint64) {
	if i >= x.base && i < x.end() {
		x.locs[i-x.base] = loc{}
	}
}

// trim keeps the entries in [first, last].
func (x *index) trim(first, last uint64) {
	if len(x.locs) > 0 && last+1 < x.end() {
		if last+1 <= x.base {
			x.locs = x.locs[:0]
		} else {
			x.locs = x.locs[:last+1-x.base]
		}
	}
	if len(x.locs) > 0 && first > x.base {
		drop := min(first-x.base, uint64(len(x.locs)))
		// Copied down so that the array does not keep growing at its end.
		x.locs = x.locs[:copy(x.locs, x.locs[drop:])]
		x.base = first
	}
	if len(x.locs) == 0 {
		x.base = first
	}
}
