package storepebble

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// LogStore is a raftcore.LogStore on pebble. Every Save is one pebble batch
// written to the WAL and synced, so a Save is atomic and durable when it
// returns. Entries and the state record carry CRC-32C checksums; a record
// that fails its checksum is reported with an error wrapping
// raftcore.ErrCorrupt and never returned.
//
// It answers raft.Storage's reads (InitialState, Entries, Term, FirstIndex,
// LastIndex, Snapshot) through the logkv.Log it embeds: FirstIndex,
// LastIndex, InitialState and Snapshot from memory, and Term from a cache of
// the log's tail. All methods are safe for concurrent use; reads do not wait
// for the fsync of a Save that only appends.
type LogStore struct {
	storage            // raft.Storage's reads, answered by log
	log     *logkv.Log // state, term cache and locking

	scratch []byte // encoding buffer of the writer holding log.WriteMu
	db      *pebble.DB
	lock    io.Closer
}

// storage is embedded under this name so that only raft.Storage's methods
// of the Log are the LogStore's.
type storage = raft.Storage

var _ raftcore.LogStore = (*LogStore)(nil)

// Open opens the log in cfg.Dir, creating it if the directory is empty or
// missing. It returns an error wrapping ErrLocked if another store holds the
// directory, ErrIncompatibleFormat if the directory holds something else, and
// raftcore.ErrCorrupt if the stored log fails its checks.
func Open(cfg Config) (*LogStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	dir, err := openDataDir(cfg.FS, cfg.Dir)
	if err != nil {
		return nil, err
	}
	cache := pebble.NewCache(cfg.CacheSize)
	defer cache.Unref()
	db, err := pebble.Open(cfg.Dir, &pebble.Options{
		FS:                 cfg.FS,
		Logger:             fatalPanicLogger{cfg.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		ErrorIfNotExists:   !dir.fresh,
		Cache:              cache,
		MemTableSize:       cfg.MemTableSize,
	})
	if err != nil {
		dir.lock.Close()
		return nil, fmt.Errorf("storepebble: opening %s: %w", cfg.Dir, err)
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

// load reads the state record, checks that no entry lies outside the
// log's bounds (pebble deletes ranges atomically with the state, so one
// would be damage) and hands the state to the Log.
func (s *LogStore) load() error {
	state := logkv.NewState()
	value, closer, err := s.db.Get([]byte(logkv.StateKey))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("storepebble: reading state: %w", err)
	default:
		state, err = logkv.DecodeState(value)
		closer.Close()
		if err != nil {
			return err
		}
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logkv.EntryKey(0), UpperBound: []byte{logkv.EntryPrefix + 1}})
	if err != nil {
		return fmt.Errorf("storepebble: reading entries: %w", err)
	}
	defer iter.Close()
	for _, end := range []struct {
		seek  func() bool
		index uint64
	}{{iter.First, state.DummyIndex + 1}, {iter.Last, state.LastIndex}} {
		if !end.seek() {
			break // none at all: the Log checks the state names none
		}
		index, _ := logkv.IndexOfKey(iter.Key())
		if state.LastIndex == state.DummyIndex {
			return fmt.Errorf("%w: entry %d present in an empty log", raftcore.ErrCorrupt, index)
		}
		if index != end.index {
			return fmt.Errorf("%w: log should span [%d, %d], found entry %d at an end",
				raftcore.ErrCorrupt, state.DummyIndex+1, state.LastIndex, index)
		}
	}
	if err := iter.Error(); err != nil {
		return fmt.Errorf("storepebble: reading entries: %w", err)
	}
	return s.log.Init("storepebble", reader{s.db}, state)
}

// reader reads entries for the Log.
type reader struct{ db *pebble.DB }

func (r reader) ReadEntry(index uint64) ([]byte, bool, error) {
	value, closer, err := r.db.Get(logkv.EntryKey(index))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return append([]byte(nil), value...), true, nil
}

func (r reader) ScanEntries(lo, hi uint64, fn func(key, value []byte) (bool, error)) error {
	iter, err := r.db.NewIter(&pebble.IterOptions{LowerBound: logkv.EntryKey(lo), UpperBound: logkv.EntryKey(hi)})
	if err != nil {
		return err
	}
	defer iter.Close()
	for valid := iter.First(); valid; valid = iter.Next() {
		if more, err := fn(iter.Key(), iter.Value()); err != nil || !more {
			return err
		}
	}
	return iter.Error()
}

// Save implements raftcore.LogStore: the snapshot, entries and hard state in
// one synced batch. Entries at or below the compaction point are skipped.
// It returns raft.ErrSnapOutOfDate for a snapshot not newer than the current
// one and an error wrapping ErrInvalidSave for entries that are not
// contiguous or leave a gap; then nothing is written.
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
	// The batch deletes or overwrites keys readers may read.
	rewrites := !raft.IsEmptySnap(snap) || (len(entries) > 0 && entries[0].GetIndex() <= state.LastIndex)

	// Sized up front so that building it does not copy: each entry costs
	// its key, its record and a few bytes of batch framing.
	batch := s.db.NewBatchWithSize(batchSizeHint(entries))
	defer batch.Close()
	if !raft.IsEmptySnap(snap) {
		if err := batch.DeleteRange(logkv.EntryKey(0), []byte{logkv.EntryPrefix + 1}, nil); err != nil {
			return fmt.Errorf("storepebble: building batch: %w", err)
		}
	}
	if len(entries) > 0 && entries[0].GetIndex() <= state.LastIndex && raft.IsEmptySnap(snap) {
		if err := batch.DeleteRange(logkv.EntryKey(entries[0].GetIndex()), logkv.EntryKey(state.LastIndex+1), nil); err != nil {
			return fmt.Errorf("storepebble: building batch: %w", err)
		}
	}
	for _, e := range entries {
		// Set copies key and value into the batch, so one buffer serves
		// every entry.
		key := logkv.AppendEntryKey(s.scratch[:0], e.GetIndex())
		record, err := logkv.AppendEntryRecord(key, key, e)
		if err != nil {
			return err
		}
		if err := batch.Set(key, record[len(key):], nil); err != nil {
			return fmt.Errorf("storepebble: building batch: %w", err)
		}
		s.scratch = record[:0]
	}
	return s.commit(batch, next, rewrites, func(terms *logkv.TermCache) {
		if !raft.IsEmptySnap(snap) {
			terms.Reset()
		}
		if len(entries) > 0 {
			terms.Append(entries)
		}
	})
}

func batchSizeHint(entries []*raftpb.Entry) int {
	size := 256 // the state record and range deletions
	for _, e := range entries {
		size += 9 + 4 + 32 + len(e.GetData())
	}
	return size
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
	batch := s.db.NewBatch()
	defer batch.Close()
	return s.commit(batch, next, false, nil)
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
	next.DummyIndex, next.DummyTerm = index, term
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := batch.DeleteRange(logkv.EntryKey(0), logkv.EntryKey(index+1), nil); err != nil {
		return fmt.Errorf("storepebble: building batch: %w", err)
	}
	return s.commit(batch, next, true, func(terms *logkv.TermCache) { terms.Compact(index + 1) })
}

// commit adds the state record to batch, writes it with a WAL sync and
// installs the new state (see logkv.Log.Commit). The caller holds WriteMu.
func (s *LogStore) commit(batch *pebble.Batch, next logkv.State, rewrites bool, installed func(*logkv.TermCache)) error {
	return s.log.Commit(next, rewrites, ErrStoreFailed, func(state []byte) error {
		if err := batch.Set([]byte(logkv.StateKey), state, nil); err != nil {
			return fmt.Errorf("storepebble: building batch: %w", err)
		}
		return s.apply(batch)
	}, installed)
}

// apply commits batch synchronously. Pebble reports a failed WAL write or
// sync through Logger.Fatalf, which panics with a fatalError: apply turns it
// into an error wrapping ErrStoreFailed, after which the store stays failed
// because pebble's commit pipeline is unusable.
func (s *LogStore) apply(batch *pebble.Batch) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fatal, ok := r.(fatalError)
		if !ok {
			panic(r)
		}
		err = fmt.Errorf("%w: %v", ErrStoreFailed, fatal)
	}()
	if err := s.db.Apply(batch, pebble.Sync); err != nil {
		return fmt.Errorf("storepebble: writing: %w", err)
	}
	return nil
}

// Close implements raftcore.LogStore. It waits for a Save in progress.
func (s *LogStore) Close() error {
	return s.log.Close(func(failed bool) error {
		err := closeDB(s.db, failed)
		if lockErr := s.lock.Close(); err == nil && lockErr != nil {
			err = fmt.Errorf("storepebble: releasing the directory lock: %w", lockErr)
		}
		return err
	})
}

// closeDB closes pebble. After a fatal commit error pebble's Close may
// panic too; the store is failed already, so that is not reported again.
func closeDB(db *pebble.DB, failed bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if !failed {
				panic(r)
			}
			err = nil
		}
	}()
	if err := db.Close(); err != nil && !failed {
		return fmt.Errorf("storepebble: closing: %w", err)
	}
	return nil
}
