package logkv

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func termEntries(lo uint64, terms ...uint64) []*raftpb.Entry {
	entries := make([]*raftpb.Entry, len(terms))
	for i, term := range terms {
		entries[i] = &raftpb.Entry{Index: new(lo + uint64(i)), Term: new(term)}
	}
	return entries
}

func TestTermCacheFollowsTheLog(t *testing.T) {
	type lookup struct {
		index, term uint64
		ok          bool
	}
	cases := []struct {
		name    string
		build   func(c *TermCache)
		lookups []lookup
	}{
		{"empty cache covers nothing", func(c *TermCache) {}, []lookup{{1, 0, false}}},
		{"appends form runs", func(c *TermCache) {
			c.Append(termEntries(5, 1, 1, 2))
			c.Append(termEntries(8, 2, 3))
		}, []lookup{{4, 0, false}, {5, 1, true}, {6, 1, true}, {7, 2, true}, {8, 2, true}, {9, 3, true}}},
		{"a conflicting suffix replaces later runs", func(c *TermCache) {
			c.Append(termEntries(1, 1, 1, 2, 2, 3))
			c.Append(termEntries(3, 4))
		}, []lookup{{2, 1, true}, {3, 4, true}}},
		{"an append before the cache restarts it", func(c *TermCache) {
			c.Append(termEntries(10, 5))
			c.Append(termEntries(4, 6, 6))
		}, []lookup{{3, 0, false}, {4, 6, true}, {5, 6, true}}},
		{"compaction drops runs below the first index", func(c *TermCache) {
			c.Append(termEntries(1, 1, 1, 2, 2, 3, 3))
			c.Compact(4)
		}, []lookup{{3, 0, false}, {4, 2, true}, {5, 3, true}}},
		{"reset empties it", func(c *TermCache) {
			c.Append(termEntries(1, 1, 2))
			c.Reset()
		}, []lookup{{1, 0, false}, {2, 0, false}}},
		{"runs beyond the bound drop the oldest", func(c *TermCache) {
			for term := uint64(1); term <= maxTermRuns+10; term++ {
				c.Append(termEntries(term, term))
			}
		}, []lookup{{10, 0, false}, {11, 11, true}, {maxTermRuns + 10, maxTermRuns + 10, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cache TermCache
			c.build(&cache)
			if len(cache.runs) > maxTermRuns {
				t.Fatalf("%d runs, bound is %d", len(cache.runs), maxTermRuns)
			}
			for _, l := range c.lookups {
				term, ok := cache.Lookup(l.index)
				if term != l.term || ok != l.ok {
					t.Errorf("Lookup(%d) = %d, %v; want %d, %v", l.index, term, ok, l.term, l.ok)
				}
			}
		})
	}
}
