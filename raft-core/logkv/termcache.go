package logkv

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

// TermCache answers Term for the tail of the log without reading the
// database. It covers the indexes from its oldest run up to the last index
// of the log it follows; older indexes are read from the database. It keeps
// one run per change of term, at most a few thousand.
//
// The zero TermCache is empty and ready to use. It is not safe for
// concurrent use; a store guards it with the lock of its in-memory state.
type TermCache struct {
	runs []termRun
}

// Lookup returns the term of index, which must be at most the last index of
// the log; ok is false if the cache does not cover index.
func (c *TermCache) Lookup(index uint64) (term uint64, ok bool) {
	if len(c.runs) == 0 || index < c.runs[0].index {
		return 0, false
	}
	i := sort.Search(len(c.runs), func(i int) bool { return c.runs[i].index > index })
	return c.runs[i-1].term, true
}

// Append records entries saved to the log, which replace every cached index
// at or after their first one. The entries are contiguous and non-empty.
func (c *TermCache) Append(entries []*raftpb.Entry) {
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

// Reset empties the cache, after the log was replaced by a snapshot.
func (c *TermCache) Reset() { c.runs = c.runs[:0] }

// Compact forgets the indexes below first, the new first index of the log.
func (c *TermCache) Compact(first uint64) {
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
