package logkv

import (
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Reader is what a Log reads from its database.
type Reader interface {
	// ReadEntry returns the record stored under EntryKey(index); found is
	// false when there is none.
	ReadEntry(index uint64) (value []byte, found bool, err error)
	// ScanEntries calls fn with the key and record of each entry with an
	// index in [lo, hi), in index order, until fn returns false or an error.
	// fn may not keep key or value after it returns.
	ScanEntries(lo, hi uint64, fn func(key, value []byte) (more bool, err error)) error
}

// Log is the half of a raftcore.LogStore on an ordered key-value database
// that does not depend on the database: the state and the term cache in
// memory, the read methods of raft.Storage, and the locking of writers
// against readers. A store embeds a Log and writes its own batches:
//
//	l.WriteMu.Lock()
//	defer l.WriteMu.Unlock()
//	if err := l.Usable(); err != nil { … }
//	next, entries, err := l.State().Save(hs, entries, snap)
//	… add the entries' records to a batch …
//	return l.Commit(next, rewrites, func(state []byte) error {
//		… add state under StateKey to the batch and commit it, synced …
//	}, func(terms *TermCache) { terms.Append(entries) })
//
// All its methods are safe for concurrent use.
type Log struct {
	// WriteMu serialises writers. A writer holding it may call State and
	// TermLocked without further locking, since only writers change them.
	WriteMu sync.Mutex

	name   string // the store's package, prefixing its errors
	db     Reader
	mu     sync.RWMutex
	closed bool
	failed error // set by Commit when a write breaks the database for good
	state  State
	terms  TermCache
}

// Init makes l the log of db with state, as read from the database when the
// store opens; name (the store's package) prefixes its errors. It checks
// that the first and last entries the state names are stored.
func (l *Log) Init(name string, db Reader, state State) error {
	l.name, l.db, l.state = name, db, state
	if state.LastIndex == state.DummyIndex {
		return nil
	}
	if _, err := l.readEntry(state.DummyIndex + 1); err != nil {
		return err
	}
	last, err := l.readEntry(state.LastIndex)
	if err != nil {
		return err
	}
	// The cache starts at the last entry and grows with appends.
	l.terms.Append([]*raftpb.Entry{last})
	return nil
}

func (l *Log) readEntry(index uint64) (*raftpb.Entry, error) {
	value, found, err := l.db.ReadEntry(index)
	if err != nil {
		return nil, fmt.Errorf("%s: reading entry %d: %w", l.name, index, err)
	}
	if !found {
		return nil, l.missing(index)
	}
	e, _, err := DecodeEntry(EntryKey(index), value)
	if err != nil {
		return nil, err
	}
	if e.GetIndex() != index {
		return nil, fmt.Errorf("%w: entry %d stored under index %d", raftcore.ErrCorrupt, e.GetIndex(), index)
	}
	return e, nil
}

func (l *Log) missing(index uint64) error {
	return fmt.Errorf("%w: entry %d of log [%d, %d] is missing", raftcore.ErrCorrupt, index, l.state.DummyIndex+1, l.state.LastIndex)
}

// usable is the error every call returns on a closed or failed store. The
// caller holds mu.
func (l *Log) usable() error {
	if l.closed {
		return raftcore.ErrClosed
	}
	return l.failed
}

// Usable is the error a writer holding WriteMu returns on a closed or
// failed store, before writing.
func (l *Log) Usable() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.usable()
}

// State is the log's state, for a writer holding WriteMu.
func (l *Log) State() State { return l.state }

// InitialState implements raft.Storage.
func (l *Log) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, nil, err
	}
	return proto.Clone(l.state.HardState).(*raftpb.HardState), l.state.ConfState(), nil
}

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	return l.state.DummyIndex + 1, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	return l.state.LastIndex, nil
}

// Snapshot implements raft.Storage. It returns the metadata of the latest
// snapshot; the data is in a SnapshotStore.
func (l *Log) Snapshot() (*raftpb.Snapshot, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	return &raftpb.Snapshot{Metadata: proto.Clone(l.state.Snapshot).(*raftpb.SnapshotMetadata)}, nil
}

// Term implements raft.Storage. It returns raft.ErrCompacted below
// FirstIndex-1 and raft.ErrUnavailable beyond LastIndex.
func (l *Log) Term(index uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	return l.TermLocked(index)
}

// TermLocked is Term for a caller holding WriteMu (or the read lock).
func (l *Log) TermLocked(index uint64) (uint64, error) {
	if term, ok, err := l.state.Term(index); ok {
		return term, err
	}
	if term, ok := l.terms.Lookup(index); ok {
		return term, nil
	}
	e, err := l.readEntry(index)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// Entries implements raft.Storage: entries [lo, hi), as many as fit in
// maxSize bytes of protobuf encoding but at least one. It returns
// raft.ErrCompacted if lo is compacted and raft.ErrUnavailable if hi is
// beyond LastIndex+1. The entries are new objects the caller owns.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return nil, err
	}
	if lo <= l.state.DummyIndex {
		return nil, raft.ErrCompacted
	}
	if hi > l.state.LastIndex+1 || lo > hi {
		return nil, fmt.Errorf("%w: entries [%d, %d) of log [%d, %d]", raft.ErrUnavailable, lo, hi, l.state.DummyIndex+1, l.state.LastIndex)
	}
	if lo == hi {
		return nil, nil
	}
	entries := make([]*raftpb.Entry, 0, min(hi-lo, 1024))
	var size uint64
	next := lo
	full := false
	err := l.db.ScanEntries(lo, hi, func(key, value []byte) (bool, error) {
		e, n, err := DecodeEntry(key, value)
		if err != nil {
			return false, err
		}
		if e.GetIndex() != next {
			return false, nil // a gap: reported below
		}
		size += n
		if len(entries) > 0 && size > maxSize {
			full = true
			return false, nil
		}
		entries = append(entries, e)
		next++
		return next < hi, nil
	})
	if err != nil {
		if errors.Is(err, raftcore.ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: reading entries: %w", l.name, err)
	}
	if !full && next != hi {
		return nil, l.missing(next)
	}
	return entries, nil
}

// Commit installs next as the log's state once write, given next's encoded
// record (to store under StateKey with the rest of the batch), has made
// the batch durable; installed, if not nil, then updates the term cache. The
// caller holds WriteMu. When rewrites is set the batch deletes or
// overwrites keys that readers may be reading, so readers are kept out
// until it is applied; a batch that only adds keys beyond LastIndex lets
// them run while it syncs. A write error that wraps fatal (if not nil)
// fails the store for good: every later call returns it.
func (l *Log) Commit(next State, rewrites bool, fatal error, write func(state []byte) error, installed func(*TermCache)) error {
	value, err := next.Encode()
	if err != nil {
		return err
	}
	if rewrites {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	if err := write(value); err != nil {
		if fatal != nil && errors.Is(err, fatal) {
			if !rewrites {
				l.mu.Lock()
				defer l.mu.Unlock()
			}
			l.failed = err
		}
		return err
	}
	if !rewrites {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	l.state = next
	if installed != nil {
		installed(&l.terms)
	}
	return nil
}

// Close marks the log closed and calls closeDB, once: a second Close
// returns raftcore.ErrClosed. It waits for a write in progress. closeDB
// is told whether the store failed (its database may then refuse to close
// cleanly, which is not reported again).
func (l *Log) Close(closeDB func(failed bool) error) error {
	l.WriteMu.Lock()
	defer l.WriteMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return raftcore.ErrClosed
	}
	l.closed = true
	return closeDB(l.failed != nil)
}
