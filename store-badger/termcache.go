package storebadger

import (
	"sort"

	"go.etcd.io/raft/v3/raftpb"
)

// maxTermRuns bounds the term cache. Terms change only on elections, so a
// few thousand runs cover a long tail of the log.
const maxTermRuns = 4096

// termRun says that entries from index on have term, up to the next run.
type termRun struct {
	index, term uint64
}

// termCache answers Term for the tail of the log without reading the
// database. It covers [runs[0].index, lastIndex] of the store it belongs to;
// older indexes are read from disk.
type termCache struct {
	runs []termRun
}

// lookup returns the term of index, which must be at most the last index;
// ok is false if the cache does not cover index.
func (c *termCache) lookup(index uint64) (term uint64, ok bool) {
	if len(c.runs) == 0 || index < c.runs[0].index {
		return 0, false
	}
	i := sort.Search(len(c.runs), func(i int) bool { return c.runs[i].index > index })
	return c.runs[i-1].term, true
}

// append records entries, which replace every cached index at or after
// their first one. The caller passes contiguous, non-empty entries.
func (c *termCache) append(entries []*raftpb.Entry) {
	lo := entries[0].GetIndex()
	if len(c.runs) > 0 && lo < c.runs[0].index {
		c.runs = c.runs[:0]
	}
	i := sort.Search(len(c.runs), func(i int) bool { return c.runs[i].index >= lo })
	c.runs = c.runs[:i]
	for _, e := range entries {
		if n := len(c.runs); n == 0 || c.runs[n-1].term != e.GetTerm() {
			c.runs = append(c.runs, termRun{index: e.GetIndex(), term: e.GetTerm()})
		}
	}
	if len(c.runs) > maxTermRuns {
		c.runs = append(c.runs[:0], c.runs[len(c.runs)-maxTermRuns:]...)
	}
}

// reset empties the cache, after the log was replaced by a snapshot.
func (c *termCache) reset() { c.runs = c.runs[:0] }

// compact drops runs that only cover indexes below first.
func (c *termCache) compact(first uint64) {
	i := 0
	for i+1 < len(c.runs) && c.runs[i+1].index <= first {
		i++
	}
	if i > 0 {
		c.runs = append(c.runs[:0], c.runs[i:]...)
	}
	if len(c.runs) > 0 && c.runs[0].index < first {
		c.runs[0].index = first
	}
}
