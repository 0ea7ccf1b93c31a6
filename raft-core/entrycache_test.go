package raftcore

import (
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestEntrySizeMatchesProtoSize(t *testing.T) {
	cases := []*raftpb.Entry{
		{},
		{Term: new(uint64(1)), Index: new(uint64(1)), Type: new(raftpb.EntryNormal)},
		{Term: new(uint64(1 << 40)), Index: new(uint64(300)), Type: new(raftpb.EntryConfChangeV2), Data: []byte{}},
		{Term: new(uint64(7)), Index: new(^uint64(0)), Type: new(raftpb.EntryType(-1)), Data: make([]byte, 200)},
		{Index: new(uint64(1)), Data: make([]byte, 70000)},
	}
	for i, e := range cases {
		if got, want := entrySize(e), uint64(proto.Size(e)); got != want {
			t.Errorf("case %d: entrySize %d, proto.Size %d", i, got, want)
		}
	}
}

// TestEntryCacheMirrorsStore drives the cache and a model of the store it
// mirrors with random saves (appends, conflicting suffixes, gaps after
// eviction), snapshots and compactions: whatever the cache answers must be
// exactly what the store holds, limited by maxSize as raft.Storage.Entries is.
func TestEntryCacheMirrorsStore(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	limit := uint64(4000)
	c := newEntryCache(limit)
	store := map[uint64]*raftpb.Entry{} // what a store would hold
	var first, last uint64 = 1, 0
	term := uint64(1)
	entry := func(i uint64) *raftpb.Entry {
		return &raftpb.Entry{Term: new(term), Index: new(i), Type: new(raftpb.EntryNormal), Data: make([]byte, rng.IntN(100))}
	}
	hits := 0
	for step := range 20000 {
		switch op := rng.IntN(100); {
		case op < 50: // append, sometimes overwriting a suffix
			lo := last + 1
			if last >= first && rng.IntN(5) == 0 {
				lo = first + uint64(rng.IntN(int(last-first+1)))
				term++
			}
			n := 1 + rng.IntN(8)
			ents := make([]*raftpb.Entry, n)
			for k := range ents {
				ents[k] = entry(lo + uint64(k))
			}
			for i := lo; i <= last; i++ {
				delete(store, i)
			}
			for _, e := range ents {
				store[e.GetIndex()] = e
			}
			last = lo + uint64(n) - 1
			c.saved(ents)
		case op < 53: // a snapshot replaces the log
			first = last + 5
			last = first - 1
			clear(store)
			c.reset()
		case op < 58: // compaction
			if last >= first {
				idx := first + uint64(rng.IntN(int(last-first+1)))
				for i := first; i <= idx; i++ {
					delete(store, i)
				}
				first = idx + 1
				c.compacted(idx)
			}
		default: // read
			if last < first {
				continue
			}
			lo := first + uint64(rng.IntN(int(last-first+1)))
			hi := lo + 1 + uint64(rng.IntN(int(last-lo+1)))
			maxSize := uint64(rng.IntN(600))
			got, ok := c.get(lo, hi, maxSize)
			if !ok {
				continue
			}
			hits++
			var size uint64
			for k, e := range got {
				want := store[lo+uint64(k)]
				if e != want {
					t.Fatalf("step %d: get(%d, %d) entry %d is not the stored one", step, lo, hi, lo+uint64(k))
				}
				size += uint64(proto.Size(e))
			}
			switch {
			case len(got) == 0:
				t.Fatalf("step %d: get(%d, %d) returned nothing", step, lo, hi)
			case len(got) > 1 && size > maxSize:
				t.Fatalf("step %d: get(%d, %d, %d) returned %d bytes", step, lo, hi, maxSize, size)
			case uint64(len(got)) < hi-lo && size+uint64(proto.Size(store[lo+uint64(len(got))])) <= maxSize:
				t.Fatalf("step %d: get(%d, %d, %d) stopped early at %d bytes", step, lo, hi, maxSize, size)
			}
		}
		var held uint64
		for _, e := range c.ents {
			held += uint64(proto.Size(e)) + entryOverhead
		}
		if c.bytes != held || c.bytes > limit {
			t.Fatalf("step %d: cache counts %d bytes, holds %d, limit %d", step, c.bytes, held, limit)
		}
	}
	if hits < 1000 {
		t.Fatalf("only %d reads were served by the cache", hits)
	}
}

func TestEntryCacheDisabled(t *testing.T) {
	c := newEntryCache(0)
	c.saved([]*raftpb.Entry{{Index: new(uint64(1)), Term: new(uint64(1))}})
	if _, ok := c.get(1, 2, 100); ok {
		t.Fatal("a disabled cache served a read")
	}
}

func TestEntryCacheRestartsAfterAGap(t *testing.T) {
	ents := func(lo, hi uint64) []*raftpb.Entry {
		var out []*raftpb.Entry
		for i := lo; i < hi; i++ {
			out = append(out, &raftpb.Entry{Index: new(i), Term: new(uint64(1))})
		}
		return out
	}
	c := newEntryCache(1 << 20)
	c.saved(ents(1, 4))
	c.saved(ents(10, 12))
	if _, ok := c.get(1, 2, 100); ok {
		t.Error("entries before a gap were kept")
	}
	if got, ok := c.get(10, 12, 100); !ok || len(got) != 2 {
		t.Errorf("get(10, 12) = %d entries, %v; want 2, true", len(got), ok)
	}
}
