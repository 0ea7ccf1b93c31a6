package storebadger

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// LogStore is a raftcore.LogStore on badger. Every Save is one badger
// transaction, committed with SyncWrites, so a Save is atomic and durable
// when it returns. Entries and the state record carry CRC-32C checksums; a
// record that fails its checksum is reported with an error wrapping
// raftcore.ErrCorrupt and never returned.
//
// The state record names the log's bounds, so entries outside them are
// garbage: those a truncation or compaction leaves are deleted after the
// transaction that made them garbage, in bounded transactions, and again
// when the store opens if a crash interrupted that.
//
// FirstIndex, LastIndex, InitialState and Snapshot are answered from memory,
// and Term from a cache of the log's tail. All methods are safe for
// concurrent use; reads do not wait for the sync of a Save that only
// appends.
type LogStore struct {
	// writeMu serialises writers. A writer holding it may read the fields
	// below without mu, since only writers change them.
	writeMu sync.Mutex

	mu     sync.RWMutex
	db     *badger.DB
	lock   io.Closer
	closed bool
	state  logkv.State
	terms  logkv.TermCache
}

var _ raftcore.LogStore = (*LogStore)(nil)

// deleteChunk bounds the deletions in one transaction, far below badger's
// transaction size limit.
const deleteChunk = 1024

// Open opens the log in cfg.Dir, creating it if the directory is empty or
// missing. It returns an error wrapping ErrLocked if another store holds the
// directory, ErrIncompatibleFormat if the directory holds something else, and
// raftcore.ErrCorrupt if the stored log fails its checks.
func Open(cfg Config) (*LogStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir, err := openDataDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(cfg.badgerOptions())
	if err != nil {
		dir.lock.Close()
		return nil, fmt.Errorf("storebadger: opening %s: %w", cfg.Dir, err)
	}
	s := &LogStore{db: db, lock: dir.lock}
	if err := s.load(); err != nil {
		db.Close()
		dir.lock.Close()
		return nil, err
	}
	return s, nil
}

// load reads the state record, deletes entries outside the log's bounds
// and checks that the first and last entries are there.
func (s *LogStore) load() error {
	s.state = logkv.NewState()
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(logkv.StateKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(value []byte) error {
			s.state, err = logkv.DecodeState(value)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("storebadger: reading state: %w", err)
	}
	if err := s.deleteGarbage(); err != nil {
		return err
	}
	if s.state.LastIndex == s.state.DummyIndex {
		return nil
	}
	for _, index := range []uint64{s.state.DummyIndex + 1, s.state.LastIndex} {
		e, err := s.readEntry(index)
		if err != nil {
			return err
		}
		if index == s.state.LastIndex {
			// The cache starts at the last entry and grows with appends.
			s.terms.Append([]*raftpb.Entry{e})
		}
	}
	return nil
}

// deleteGarbage deletes every entry outside [dummyIndex+1, lastIndex].
func (s *LogStore) deleteGarbage() error {
	var lowest, highest uint64
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		iter := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{logkv.EntryPrefix}})
		defer iter.Close()
		if iter.Rewind(); !iter.Valid() {
			return nil
		}
		lowest, _ = logkv.IndexOfKey(iter.Item().Key())
		reverse := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{logkv.EntryPrefix}, Reverse: true})
		defer reverse.Close()
		if reverse.Seek(logkv.EntryKey(^uint64(0))); reverse.Valid() {
			highest, _ = logkv.IndexOfKey(reverse.Item().Key())
			found = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storebadger: scanning for discarded entries: %w", err)
	}
	if !found {
		return nil
	}
	if lowest <= s.state.DummyIndex {
		if err := s.deleteRange(lowest, s.state.DummyIndex); err != nil {
			return err
		}
	}
	if highest > s.state.LastIndex {
		return s.deleteRange(s.state.LastIndex+1, highest)
	}
	return nil
}

// deleteRange deletes entries lo..hi (inclusive) in transactions of at most
// deleteChunk deletions. Deleting an absent key is harmless.
func (s *LogStore) deleteRange(lo, hi uint64) error {
	for lo <= hi {
		end := min(hi, lo+deleteChunk-1)
		err := s.db.Update(func(txn *badger.Txn) error {
			for index := lo; index <= end; index++ {
				if err := txn.Delete(logkv.EntryKey(index)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("storebadger: deleting discarded entries: %w", err)
		}
		if end == hi {
			break
		}
		lo = end + 1
	}
	return nil
}

func (s *LogStore) readEntry(index uint64) (*raftpb.Entry, error) {
	var e *raftpb.Entry
	key := logkv.EntryKey(index)
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: entry %d of log [%d, %d] is missing", raftcore.ErrCorrupt, index, s.state.DummyIndex+1, s.state.LastIndex)
		}
		if err != nil {
			return fmt.Errorf("storebadger: reading entry %d: %w", index, err)
		}
		return item.Value(func(value []byte) error {
			e, _, err = logkv.DecodeEntry(key, value)
			return err
		})
	})
	return e, err
}

// checkUsable returns the error every call returns on a closed store. The
// caller holds mu.
func (s *LogStore) checkUsable() error {
	if s.closed {
		return raftcore.ErrClosed
	}
	return nil
}

// InitialState implements raft.Storage.
func (s *LogStore) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return nil, nil, err
	}
	hs := proto.Clone(s.state.HardState).(*raftpb.HardState)
	cs := s.state.ConfState()
	return hs, cs, nil
}

// FirstIndex implements raft.Storage.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return 0, err
	}
	return s.state.DummyIndex + 1, nil
}

// LastIndex implements raft.Storage.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return 0, err
	}
	return s.state.LastIndex, nil
}

// Snapshot implements raft.Storage. It returns the metadata of the latest
// snapshot; the data is in a SnapshotStore.
func (s *LogStore) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	return &raftpb.Snapshot{Metadata: proto.Clone(s.state.Snapshot).(*raftpb.SnapshotMetadata)}, nil
}

// Term implements raft.Storage. It returns raft.ErrCompacted below
// FirstIndex-1 and raft.ErrUnavailable beyond LastIndex.
func (s *LogStore) Term(index uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return 0, err
	}
	return s.term(index)
}

// term is Term for a caller holding mu or writeMu.
func (s *LogStore) term(index uint64) (uint64, error) {
	if term, ok, err := s.state.Term(index); ok {
		return term, err
	}
	if term, ok := s.terms.Lookup(index); ok {
		return term, nil
	}
	e, err := s.readEntry(index)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// Entries implements raft.Storage: entries [lo, hi), as many as fit in
// maxSize bytes of protobuf encoding but at least one. It returns
// raft.ErrCompacted if lo is compacted and raft.ErrUnavailable if hi is
// beyond LastIndex+1. The entries are new objects the caller owns.
func (s *LogStore) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	if lo <= s.state.DummyIndex {
		return nil, raft.ErrCompacted
	}
	if hi > s.state.LastIndex+1 || lo > hi {
		return nil, fmt.Errorf("%w: entries [%d, %d) of log [%d, %d]", raft.ErrUnavailable, lo, hi, s.state.DummyIndex+1, s.state.LastIndex)
	}
	if lo == hi {
		return nil, nil
	}
	entries := make([]*raftpb.Entry, 0, min(hi-lo, 1024))
	err := s.db.View(func(txn *badger.Txn) error {
		iter := txn.NewIterator(badger.IteratorOptions{
			Prefix:         []byte{logkv.EntryPrefix},
			PrefetchValues: true,
			PrefetchSize:   int(min(hi-lo, 64)),
		})
		defer iter.Close()
		var size uint64
		next := lo
		for iter.Seek(logkv.EntryKey(lo)); iter.Valid() && next < hi; iter.Next() {
			item := iter.Item()
			var e *raftpb.Entry
			var n uint64
			err := item.Value(func(value []byte) (err error) {
				e, n, err = logkv.DecodeEntry(item.Key(), value)
				return err
			})
			if err != nil {
				return err
			}
			if e.GetIndex() != next {
				break
			}
			size += n
			if len(entries) > 0 && size > maxSize {
				return nil
			}
			entries = append(entries, e)
			next++
		}
		if next != hi {
			return fmt.Errorf("%w: entry %d of log [%d, %d] is missing", raftcore.ErrCorrupt, next, s.state.DummyIndex+1, s.state.LastIndex)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// Save implements raftcore.LogStore: the snapshot, entries and hard state in
// one synced transaction. Entries at or below the compaction point are
// skipped. It returns raft.ErrSnapOutOfDate for a snapshot not newer than
// the current one and an error wrapping ErrInvalidSave for entries that are
// not contiguous or leave a gap, or that exceed badger's transaction size
// limit; then nothing is written.
func (s *LogStore) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	next, entries, err := s.state.Save(hs, entries, snap)
	if err != nil {
		return err
	}
	if raft.IsEmptySnap(snap) && len(entries) == 0 && raft.IsEmptyHardState(hs) {
		return nil
	}

	// Entries of the old log that the new one does not hold: the whole old
	// log up to a saved snapshot, and the old suffix beyond the new last
	// index.
	var garbage []indexRange
	if !raft.IsEmptySnap(snap) {
		garbage = append(garbage, indexRange{s.state.DummyIndex + 1, min(s.state.LastIndex, next.DummyIndex)})
	}
	garbage = append(garbage, indexRange{max(next.LastIndex, s.state.DummyIndex) + 1, s.state.LastIndex})
	rewrites := !raft.IsEmptySnap(snap) || (len(entries) > 0 && entries[0].GetIndex() <= s.state.LastIndex)

	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	// The transaction keeps references to keys and values until it
	// commits, so they are carved out of one buffer that is not reused.
	var arena []byte
	if len(entries) > 0 {
		arena = make([]byte, 0, len(entries)*(9+4+24)+len(entries)*len(entries[0].GetData()))
	}
	for _, e := range entries {
		start := len(arena)
		arena = logkv.AppendEntryKey(arena, e.GetIndex())
		keyEnd := len(arena)
		var err error
		if arena, err = logkv.AppendEntryRecord(arena, arena[start:keyEnd], e); err != nil {
			return err
		}
		if err := txn.Set(arena[start:keyEnd:keyEnd], arena[keyEnd:len(arena):len(arena)]); err != nil {
			return s.txnError(err)
		}
	}
	var later []indexRange // garbage too large for this transaction
	for _, r := range garbage {
		if r.size() > deleteChunk {
			later = append(later, r)
			continue
		}
		for index := r.lo; index <= r.hi; index++ {
			if err := txn.Delete(logkv.EntryKey(index)); err != nil {
				return s.txnError(err)
			}
		}
	}
	if err := s.commit(txn, next, rewrites, func() {
		if !raft.IsEmptySnap(snap) {
			s.terms.Reset()
		}
		if len(entries) > 0 {
			s.terms.Append(entries)
		}
	}); err != nil {
		return err
	}
	for _, r := range later {
		if err := s.deleteRange(r.lo, r.hi); err != nil {
			return err
		}
	}
	return nil
}

// indexRange is the entries lo..hi, inclusive; empty when hi < lo.
type indexRange struct{ lo, hi uint64 }

func (r indexRange) size() uint64 {
	if r.hi < r.lo {
		return 0
	}
	return r.hi - r.lo + 1
}

func (s *LogStore) txnError(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%w: %v; raise Config.MemTableSize or save fewer entries at once", ErrInvalidSave, err)
	}
	return fmt.Errorf("storebadger: building transaction: %w", err)
}

// SetSnapshot implements raftcore.LogStore. It returns
// raft.ErrSnapOutOfDate for a snapshot not newer than the current one and
// raft.ErrUnavailable for an index beyond LastIndex.
func (s *LogStore) SetSnapshot(meta *raftpb.SnapshotMetadata) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	next, err := s.state.SetSnapshot(meta)
	if err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	return s.commit(txn, next, false, nil)
}

// Compact implements raftcore.LogStore. It returns raft.ErrCompacted for an
// index at or below FirstIndex-1 and an error wrapping
// ErrCompactBeyondSnapshot for one the latest snapshot does not cover.
func (s *LogStore) Compact(index uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if err := s.state.CheckCompact(index); err != nil {
		return err
	}
	term, err := s.term(index)
	if err != nil {
		return err
	}
	oldFirst := s.state.DummyIndex + 1
	next := s.state
	next.DummyIndex, next.DummyTerm = index, term
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	// The state moves first; readers then no longer look below the new
	// first index, and the entries there are deleted afterwards.
	if err := s.commit(txn, next, false, func() { s.terms.Compact(index + 1) }); err != nil {
		return err
	}
	return s.deleteRange(oldFirst, index)
}

// usable is checkUsable for a writer holding writeMu.
func (s *LogStore) usable() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkUsable()
}

// commit adds the state record next to txn, commits it (synced, as the
// database writes with SyncWrites) and installs next, calling installed,
// if not nil, as it does. The caller holds writeMu. When rewrites is set the
// transaction deletes or overwrites keys that readers may be reading, so
// readers are kept out until it is applied; a transaction that only adds
// keys beyond LastIndex lets them run during the sync.
func (s *LogStore) commit(txn *badger.Txn, next logkv.State, rewrites bool, installed func()) error {
	value, err := next.Encode()
	if err != nil {
		return err
	}
	if err := txn.Set([]byte(logkv.StateKey), value); err != nil {
		return s.txnError(err)
	}
	if rewrites {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("storebadger: writing: %w", err)
	}
	if !rewrites {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	s.state = next
	if installed != nil {
		installed()
	}
	return nil
}

// Close implements raftcore.LogStore. It waits for a Save in progress.
func (s *LogStore) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return raftcore.ErrClosed
	}
	s.closed = true
	err := s.db.Close()
	if err != nil {
		err = fmt.Errorf("storebadger: closing: %w", err)
	}
	if lockErr := s.lock.Close(); err == nil && lockErr != nil {
		err = fmt.Errorf("storebadger: releasing the directory lock: %w", lockErr)
	}
	return err
}
