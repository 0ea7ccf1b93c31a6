package storewal

import (
	"errors"
	"io"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// LogStore is a raftcore.LogStore on a segmented write-ahead log. Every
// Save is one record and one fdatasync, so a Save is atomic and durable when
// it returns. The state and every entry carry CRC-32C checksums (the
// records of raft-core/logkv) inside records that carry their own; damage
// is reported with an error wrapping raftcore.ErrCorrupt and a damaged
// record is never returned. A read that fails (EIO) returns an error
// wrapping the file system's and does not fail the store: the disk still
// holds what it held, and the next read tries it again.
//
// It answers raft.Storage's reads (InitialState, Entries, Term, FirstIndex,
// LastIndex, Snapshot) through the logkv.Log it embeds: FirstIndex,
// LastIndex, InitialState and Snapshot from memory, Term from a cache of the
// log's tail, and Entries by reading the records from the segments. All
// methods are safe for concurrent use; reads do not wait for the fdatasync
// of a Save that only appends.
type LogStore struct {
	storage            // raft.Storage's reads, answered by log
	log     *logkv.Log // state, term cache and locking

	w    *wal
	lock io.Closer
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
	return open(cfg, osFS{})
}

// open is Open on the file system fs.
func open(cfg Config, fs fileSystem) (*LogStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	lock, err := lockDir(fs, cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkMarker(fs, cfg.Dir); err != nil {
		lock.Close()
		return nil, err
	}
	w, err := openWAL(fs, cfg.Dir, cfg.SegmentSize, cfg.Logger)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s := &LogStore{log: &logkv.Log{}, w: w, lock: lock}
	s.storage = s.log
	if err := s.log.Init("storewal", reader{w}, w.state); err != nil {
		w.close()
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Save implements raftcore.LogStore: the snapshot, entries and hard state in
// one synced record. Entries at or below the compaction point are skipped.
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
	installs := !raft.IsEmptySnap(snap)
	if !installs && len(entries) == 0 && raft.IsEmptyHardState(hs) {
		return nil
	}
	// The record replaces entries readers may read.
	rewrites := installs || (len(entries) > 0 && entries[0].GetIndex() <= state.LastIndex)
	err = s.log.Commit(next, rewrites, ErrStoreFailed, func(value []byte) error {
		return s.write(value, entries)
	}, func(terms *logkv.TermCache) {
		if installs {
			terms.Reset()
		}
		if len(entries) > 0 {
			terms.Append(entries)
		}
	})
	if err == nil && installs {
		s.w.recycle()
	}
	return err
}

// write appends one record: the state, then the entries. The caller holds
// WriteMu.
func (s *LogStore) write(state []byte, entries []*raftpb.Entry) error {
	b := &s.w.b
	b.reset()
	if err := b.set([]byte(logkv.StateKey), func(dst []byte) ([]byte, error) { return append(dst, state...), nil }); err != nil {
		return err
	}
	for _, e := range entries {
		key := s.w.entryKey(e.GetIndex())
		if err := b.set(key, func(dst []byte) ([]byte, error) { return logkv.AppendEntryRecord(dst, key, e) }); err != nil {
			return err
		}
	}
	return s.w.commit()
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
	return s.log.Commit(next, false, ErrStoreFailed, func(value []byte) error { return s.write(value, nil) }, nil)
}

// Compact implements raftcore.LogStore. It returns raft.ErrCompacted for an
// index at or below FirstIndex-1 and an error wrapping
// ErrCompactBeyondSnapshot for one the latest snapshot does not cover.
// Segments left without entries of the log are then reused or deleted; once
// the compaction is durable, a failure to rename or delete one is not
// reported: the segment stays, holding only compacted entries, and the next
// Compact (or a Save of a snapshot) tries again.
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
	err = s.log.Commit(next, true, ErrStoreFailed, func(value []byte) error { return s.write(value, nil) },
		func(terms *logkv.TermCache) { terms.Compact(index + 1) })
	if err != nil {
		return err
	}
	s.w.recycle()
	return nil
}

// Close implements raftcore.LogStore. It waits for a Save in progress.
func (s *LogStore) Close() error {
	return s.log.Close(func(bool) error {
		s.w.mu.Lock()
		err := s.w.close()
		s.w.mu.Unlock()
		return errors.Join(err, s.lock.Close())
	})
}

// reader reads entry records for the Log.
type reader struct{ w *wal }

func (r reader) ReadEntry(index uint64) ([]byte, bool, error) {
	r.w.mu.RLock()
	defer r.w.mu.RUnlock()
	l, ok := r.w.idx.get(index)
	if !ok {
		return nil, false, nil
	}
	value, err := r.w.read(l)
	return value, err == nil, err
}

// ScanEntries reads the records of a run of entries in one segment with one
// pread.
func (r reader) ScanEntries(lo, hi uint64, fn func(key, value []byte) (bool, error)) error {
	r.w.mu.RLock()
	defer r.w.mu.RUnlock()
	var key []byte
	for i := lo; i < hi; {
		first, ok := r.w.idx.get(i)
		if !ok {
			i++
			continue
		}
		// The run: entries whose records follow one another in a segment.
		j, end := i+1, uint64(first.off)+uint64(first.n)
		for ; j < hi && end-uint64(first.off) < scanChunk; j++ {
			l, ok := r.w.idx.get(j)
			if !ok || l.seq != first.seq || uint64(l.off) < end {
				break
			}
			end = uint64(l.off) + uint64(l.n)
		}
		buf, err := r.w.read(loc{seq: first.seq, off: first.off, n: uint32(end - uint64(first.off))})
		if err != nil {
			return err
		}
		for k := i; k < j; k++ {
			l, _ := r.w.idx.get(k)
			key = logkv.AppendEntryKey(key[:0], k)
			at := uint64(l.off) - uint64(first.off)
			if more, err := fn(key, buf[at:at+uint64(l.n)]); err != nil || !more {
				return err
			}
		}
		i = j
	}
	return nil
}

// scanChunk bounds the bytes ScanEntries reads at once.
const scanChunk = 4 << 20
