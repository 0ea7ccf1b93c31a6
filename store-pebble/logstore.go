package storepebble

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// LogStore is a raftcore.LogStore on pebble. Every Save is one pebble batch
// written to the WAL and synced, so a Save is atomic and durable when it
// returns. Entries and the state record carry CRC-32C checksums; a record
// that fails its checksum is reported with an error wrapping
// raftcore.ErrCorrupt and never returned.
//
// FirstIndex, LastIndex, InitialState and Snapshot are answered from memory,
// and Term from a cache of the log's tail. All methods are safe for
// concurrent use; reads do not wait for the fsync of a Save that only
// appends.
type LogStore struct {
	// writeMu serialises writers. A writer holding it may read the fields
	// below without mu, since only writers change them.
	writeMu sync.Mutex
	scratch []byte // encoding buffer of the writer holding writeMu

	mu     sync.RWMutex
	db     *pebble.DB
	lock   io.Closer
	closed bool
	failed error // set when pebble's commit pipeline broke
	state  logkv.State
	terms  logkv.TermCache
}

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
	s := &LogStore{db: db, lock: dir.lock}
	if err := s.load(); err != nil {
		db.Close()
		dir.lock.Close()
		return nil, err
	}
	return s, nil
}

// load reads the state record and checks that the stored entries are the
// ones it describes.
func (s *LogStore) load() error {
	s.state = logkv.NewState()
	value, closer, err := s.db.Get([]byte(logkv.StateKey))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("storepebble: reading state: %w", err)
	default:
		s.state, err = logkv.DecodeState(value)
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
	if s.state.LastIndex == s.state.DummyIndex {
		if iter.First() {
			index, _ := logkv.IndexOfKey(iter.Key())
			return fmt.Errorf("%w: entry %d present in an empty log", raftcore.ErrCorrupt, index)
		}
		return iter.Error()
	}
	for _, end := range []struct {
		seek  func() bool
		index uint64
	}{{iter.First, s.state.DummyIndex + 1}, {iter.Last, s.state.LastIndex}} {
		if !end.seek() {
			if err := iter.Error(); err != nil {
				return fmt.Errorf("storepebble: reading entries: %w", err)
			}
			return fmt.Errorf("%w: log [%d, %d] has no entries", raftcore.ErrCorrupt, s.state.DummyIndex+1, s.state.LastIndex)
		}
		e, _, err := logkv.DecodeEntry(iter.Key(), iter.Value())
		if err != nil {
			return err
		}
		if e.GetIndex() != end.index {
			return fmt.Errorf("%w: log should span [%d, %d], found entry %d at an end",
				raftcore.ErrCorrupt, s.state.DummyIndex+1, s.state.LastIndex, e.GetIndex())
		}
		if e.GetIndex() == s.state.LastIndex {
			// The cache starts at the last entry and grows with appends.
			s.terms.Append([]*raftpb.Entry{e})
		}
	}
	return nil
}

// checkUsable returns the error every call returns on a closed or failed
// store. The caller holds mu.
func (s *LogStore) checkUsable() error {
	if s.closed {
		return raftcore.ErrClosed
	}
	return s.failed
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
	key := logkv.EntryKey(index)
	value, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, fmt.Errorf("%w: entry %d of log [%d, %d] is missing", raftcore.ErrCorrupt, index, s.state.DummyIndex+1, s.state.LastIndex)
	}
	if err != nil {
		return 0, fmt.Errorf("storepebble: reading entry %d: %w", index, err)
	}
	defer closer.Close()
	e, _, err := logkv.DecodeEntry(key, value)
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
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logkv.EntryKey(lo), UpperBound: logkv.EntryKey(hi)})
	if err != nil {
		return nil, fmt.Errorf("storepebble: reading entries: %w", err)
	}
	defer iter.Close()
	entries := make([]*raftpb.Entry, 0, min(hi-lo, 1024))
	var size uint64
	next := lo
	for valid := iter.First(); valid; valid = iter.Next() {
		e, n, err := logkv.DecodeEntry(iter.Key(), iter.Value())
		if err != nil {
			return nil, err
		}
		if e.GetIndex() != next {
			break
		}
		size += n
		if len(entries) > 0 && size > maxSize {
			return entries, nil
		}
		entries = append(entries, e)
		next++
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("storepebble: reading entries: %w", err)
	}
	if next != hi {
		return nil, fmt.Errorf("%w: entry %d of log [%d, %d] is missing", raftcore.ErrCorrupt, next, s.state.DummyIndex+1, s.state.LastIndex)
	}
	return entries, nil
}

// Save implements raftcore.LogStore: the snapshot, entries and hard state in
// one synced batch. Entries at or below the compaction point are skipped.
// It returns raft.ErrSnapOutOfDate for a snapshot not newer than the current
// one and an error wrapping ErrInvalidSave for entries that are not
// contiguous or leave a gap; then nothing is written.
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
	// The batch deletes or overwrites keys readers may read.
	rewrites := !raft.IsEmptySnap(snap) || (len(entries) > 0 && entries[0].GetIndex() <= s.state.LastIndex)

	// Sized up front so that building it does not copy: each entry costs
	// its key, its record and a few bytes of batch framing.
	batch := s.db.NewBatchWithSize(batchSizeHint(entries))
	defer batch.Close()
	if !raft.IsEmptySnap(snap) {
		if err := batch.DeleteRange(logkv.EntryKey(0), []byte{logkv.EntryPrefix + 1}, nil); err != nil {
			return fmt.Errorf("storepebble: building batch: %w", err)
		}
	}
	if len(entries) > 0 && entries[0].GetIndex() <= s.state.LastIndex && raft.IsEmptySnap(snap) {
		if err := batch.DeleteRange(logkv.EntryKey(entries[0].GetIndex()), logkv.EntryKey(s.state.LastIndex+1), nil); err != nil {
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
	return s.commit(batch, next, rewrites, func() {
		if !raft.IsEmptySnap(snap) {
			s.terms.Reset()
		}
		if len(entries) > 0 {
			s.terms.Append(entries)
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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	next, err := s.state.SetSnapshot(meta)
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
	next := s.state
	next.DummyIndex, next.DummyTerm = index, term
	batch := s.db.NewBatch()
	defer batch.Close()
	if err := batch.DeleteRange(logkv.EntryKey(0), logkv.EntryKey(index+1), nil); err != nil {
		return fmt.Errorf("storepebble: building batch: %w", err)
	}
	return s.commit(batch, next, true, func() { s.terms.Compact(index + 1) })
}

// usable is checkUsable for a writer holding writeMu.
func (s *LogStore) usable() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkUsable()
}

// commit adds the state record next to batch, writes it with a WAL sync and
// installs next, calling installed, if not nil, as it does. The caller
// holds writeMu. When rewrites is set the batch
// deletes or overwrites keys that readers may be reading, so readers are
// kept out until it is applied; a batch that only adds keys beyond
// LastIndex lets them run during the sync.
func (s *LogStore) commit(batch *pebble.Batch, next logkv.State, rewrites bool, installed func()) error {
	value, err := next.Encode()
	if err != nil {
		return err
	}
	if err := batch.Set([]byte(logkv.StateKey), value, nil); err != nil {
		return fmt.Errorf("storepebble: building batch: %w", err)
	}
	if rewrites {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if err := s.apply(batch); err != nil {
		if errors.Is(err, ErrStoreFailed) {
			if !rewrites {
				s.mu.Lock()
				defer s.mu.Unlock()
			}
			s.failed = err
		}
		return err
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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return raftcore.ErrClosed
	}
	s.closed = true
	err := s.closeDB()
	if lockErr := s.lock.Close(); err == nil && lockErr != nil {
		err = fmt.Errorf("storepebble: releasing the directory lock: %w", lockErr)
	}
	return err
}

// closeDB closes pebble. After a fatal commit error pebble's Close may
// panic too; the store is failed already, so that is not reported again.
func (s *LogStore) closeDB() (err error) {
	defer func() {
		if r := recover(); r != nil {
			if s.failed == nil {
				panic(r)
			}
			err = nil
		}
	}()
	if err := s.db.Close(); err != nil && s.failed == nil {
		return fmt.Errorf("storepebble: closing: %w", err)
	}
	return nil
}
