package storebadger

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

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
// It answers raft.Storage's reads (InitialState, Entries, Term, FirstIndex,
// LastIndex, Snapshot) through the logkv.Log it embeds: FirstIndex,
// LastIndex, InitialState and Snapshot from memory, and Term from a cache of
// the log's tail. All methods are safe for concurrent use; reads do not wait
// for the sync of a Save that only appends.
type LogStore struct {
	storage            // raft.Storage's reads, answered by log
	log     *logkv.Log // state, term cache and locking

	db   *badger.DB
	lock io.Closer
}

// storage is embedded under this name so that only raft.Storage's methods
// of the Log are the LogStore's.
type storage = raft.Storage

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
	s := &LogStore{log: &logkv.Log{}, db: db, lock: dir.lock}
	s.storage = s.log
	if err := s.load(); err != nil {
		db.Close()
		dir.lock.Close()
		return nil, err
	}
	return s, nil
}

// load reads the state record, deletes entries outside the log's bounds
// and hands the state to the Log, which checks that the first and last
// entries are there.
func (s *LogStore) load() error {
	state := logkv.NewState()
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(logkv.StateKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(value []byte) error {
			state, err = logkv.DecodeState(value)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("storebadger: reading state: %w", err)
	}
	if err := s.deleteGarbage(state); err != nil {
		return err
	}
	return s.log.Init("storebadger", reader{s.db}, state)
}

// deleteGarbage deletes every entry outside [dummyIndex+1, lastIndex].
func (s *LogStore) deleteGarbage(state logkv.State) error {
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
	if lowest <= state.DummyIndex {
		if err := s.deleteRange(lowest, state.DummyIndex); err != nil {
			return err
		}
	}
	if highest > state.LastIndex {
		return s.deleteRange(state.LastIndex+1, highest)
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

// reader reads entries for the Log.
type reader struct{ db *badger.DB }

func (r reader) ReadEntry(index uint64) (value []byte, found bool, err error) {
	err = r.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logkv.EntryKey(index))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		value, err = item.ValueCopy(nil)
		return err
	})
	return value, found, err
}

func (r reader) ScanEntries(lo, hi uint64, fn func(key, value []byte) (bool, error)) error {
	return r.db.View(func(txn *badger.Txn) error {
		iter := txn.NewIterator(badger.IteratorOptions{
			Prefix:         []byte{logkv.EntryPrefix},
			PrefetchValues: true,
			PrefetchSize:   int(min(hi-lo, 64)),
		})
		defer iter.Close()
		end := logkv.EntryKey(hi)
		for iter.Seek(logkv.EntryKey(lo)); iter.Valid(); iter.Next() {
			item := iter.Item()
			if bytes.Compare(item.Key(), end) >= 0 {
				return nil
			}
			var more bool
			err := item.Value(func(value []byte) (err error) {
				more, err = fn(item.Key(), value)
				return err
			})
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// Save implements raftcore.LogStore: the snapshot, entries and hard state in
// one synced transaction. Entries at or below the compaction point are
// skipped. It returns raft.ErrSnapOutOfDate for a snapshot not newer than
// the current one and an error wrapping ErrInvalidSave for entries that are
// not contiguous or leave a gap, or that exceed badger's transaction size
// limit; then nothing is written.
func (s *LogStore) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.log.WriteMu.Lock()
	defer s.log.WriteMu.Unlock()
	if err := s.log.Usable(); err != nil {
		return err
	}
	state := s.log.State()
	next, entries, err := state.Save(hs, entries, snap)
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
		garbage = append(garbage, indexRange{state.DummyIndex + 1, min(state.LastIndex, next.DummyIndex)})
	}
	garbage = append(garbage, indexRange{max(next.LastIndex, state.DummyIndex) + 1, state.LastIndex})
	rewrites := !raft.IsEmptySnap(snap) || (len(entries) > 0 && entries[0].GetIndex() <= state.LastIndex)

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
	if err := s.commit(txn, next, rewrites, func(terms *logkv.TermCache) {
		if !raft.IsEmptySnap(snap) {
			terms.Reset()
		}
		if len(entries) > 0 {
			terms.Append(entries)
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
	s.log.WriteMu.Lock()
	defer s.log.WriteMu.Unlock()
	if err := s.log.Usable(); err != nil {
		return err
	}
	next, err := s.log.State().SetSnapshot(meta)
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
	s.log.WriteMu.Lock()
	defer s.log.WriteMu.Unlock()
	if err := s.log.Usable(); err != nil {
		return err
	}
	if err := s.log.State().CheckCompact(index); err != nil {
		return err
	}
	term, err := s.log.TermLocked(index)
	if err != nil {
		return err
	}
	next := s.log.State()
	oldFirst := next.DummyIndex + 1
	next.DummyIndex, next.DummyTerm = index, term
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	// The state moves first; readers then no longer look below the new
	// first index, and the entries there are deleted afterwards.
	if err := s.commit(txn, next, false, func(terms *logkv.TermCache) { terms.Compact(index + 1) }); err != nil {
		return err
	}
	return s.deleteRange(oldFirst, index)
}

// commit adds the state record to txn, commits it (synced, as the
// database writes with SyncWrites) and installs the new state (see
// logkv.Log.Commit). The caller holds WriteMu.
func (s *LogStore) commit(txn *badger.Txn, next logkv.State, rewrites bool, installed func(*logkv.TermCache)) error {
	return s.log.Commit(next, rewrites, nil, func(state []byte) error {
		if err := txn.Set([]byte(logkv.StateKey), state); err != nil {
			return s.txnError(err)
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("storebadger: writing: %w", err)
		}
		return nil
	}, installed)
}

// Close implements raftcore.LogStore. It waits for a Save in progress.
func (s *LogStore) Close() error {
	return s.log.Close(func(bool) error {
		err := s.db.Close()
		if err != nil {
			err = fmt.Errorf("storebadger: closing: %w", err)
		}
		if lockErr := s.lock.Close(); err == nil && lockErr != nil {
			err = fmt.Errorf("storebadger: releasing the directory lock: %w", lockErr)
		}
		return err
	})
}
