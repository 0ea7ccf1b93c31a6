package raftcore

import (
	"sync"

	"go.etcd.io/raft/v3/raftpb"
)

// entryCache keeps the most recently saved entries in memory, so that raft
// reads the entries it must apply or send to a follower without going to the
// LogStore. With asynchronous storage writes raft forgets an entry as soon as
// it is durable, then asks storage for it again to apply it: without the
// cache every write costs a store read (a database iterator for pebble).
//
// The cache mirrors the store exactly for the indexes it holds: it is filled
// only after a successful Save, truncated the way Save truncates a
// conflicting suffix, and emptied when a snapshot replaces the log. It holds
// at most limit bytes (entry encoding sizes plus entryOverhead each, close
// to the memory an entry takes), dropping the oldest first.
type entryCache struct {
	mu    sync.Mutex
	limit uint64
	ents  []*raftpb.Entry // contiguous indexes
	sizes []uint64        // encoding size of ents[i]
	bytes uint64          // sum of sizes, plus entryOverhead per entry
}

// entryOverhead approximates the memory of an entry beyond its encoding:
// the raftpb.Entry struct, its boxed fields and the cache's slots.
const entryOverhead = 128

func newEntryCache(limit uint64) *entryCache { return &entryCache{limit: limit} }

// saved records entries that a Save made durable.
func (c *entryCache) saved(ents []*raftpb.Entry) {
	if c.limit == 0 || len(ents) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	lo := ents[0].GetIndex()
	switch {
	case len(c.ents) == 0 || lo < c.first() || lo > c.last()+1:
		c.clearLocked()
	case lo <= c.last():
		c.truncateLocked(int(lo - c.first()))
	}
	for _, e := range ents {
		size := entrySize(e)
		c.ents = append(c.ents, e)
		c.sizes = append(c.sizes, size)
		c.bytes += size + entryOverhead
	}
	c.evictLocked()
}

// reset empties the cache, for a snapshot that replaced the log.
func (c *entryCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
}

// compacted drops the entries up to and including index.
func (c *entryCache) compacted(index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ents) == 0 || index < c.first() {
		return
	}
	c.dropFrontLocked(min(int(index-c.first()+1), len(c.ents)))
}

// get returns entries [lo, hi) limited to maxSize bytes (at least one entry),
// as raft.Storage.Entries does, and whether the cache held all of them.
func (c *entryCache) get(lo, hi, maxSize uint64) ([]*raftpb.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ents) == 0 || lo < c.first() || hi > c.last()+1 || lo >= hi {
		return nil, false
	}
	from, to := int(lo-c.first()), int(hi-c.first())
	n, size := 0, uint64(0)
	for i := from; i < to; i++ {
		size += c.sizes[i]
		if n > 0 && size > maxSize {
			break
		}
		n++
	}
	out := make([]*raftpb.Entry, n)
	copy(out, c.ents[from:from+n])
	return out, true
}

func (c *entryCache) first() uint64 { return c.ents[0].GetIndex() }
func (c *entryCache) last() uint64  { return c.ents[len(c.ents)-1].GetIndex() }

func (c *entryCache) clearLocked() {
	clear(c.ents)
	c.ents, c.sizes, c.bytes = c.ents[:0], c.sizes[:0], 0
}

func (c *entryCache) truncateLocked(keep int) {
	for _, s := range c.sizes[keep:] {
		c.bytes -= s + entryOverhead
	}
	clear(c.ents[keep:])
	c.ents, c.sizes = c.ents[:keep], c.sizes[:keep]
}

func (c *entryCache) evictLocked() {
	n, over := 0, c.bytes
	for over > c.limit && n < len(c.ents) {
		over -= c.sizes[n] + entryOverhead
		n++
	}
	c.dropFrontLocked(n)
}

// dropFrontLocked removes the n oldest entries. The arrays are compacted in
// place once more than half of them is dead, so memory stays bounded
// without copying on every call.
func (c *entryCache) dropFrontLocked(n int) {
	if n == 0 {
		return
	}
	for _, s := range c.sizes[:n] {
		c.bytes -= s + entryOverhead
	}
	clear(c.ents[:n])
	c.ents, c.sizes = c.ents[n:], c.sizes[n:]
	if len(c.ents) < cap(c.ents)/2 {
		c.ents = append(make([]*raftpb.Entry, 0, 2*len(c.ents)+16), c.ents...)
		c.sizes = append(make([]uint64, 0, 2*len(c.sizes)+16), c.sizes...)
	}
}

// entrySize is the protobuf encoding size of e, as raft counts it against
// MaxSizePerMsg, computed without reflection: entries are set by raft with
// every field present.
func entrySize(e *raftpb.Entry) uint64 {
	size := 0
	if e.Term != nil {
		size += 1 + uvarintLen(*e.Term)
	}
	if e.Index != nil {
		size += 1 + uvarintLen(*e.Index)
	}
	if e.Type != nil {
		size += 1 + uvarintLen(uint64(*e.Type))
	}
	if e.Data != nil {
		size += 1 + uvarintLen(uint64(len(e.Data))) + len(e.Data)
	}
	return uint64(size)
}
