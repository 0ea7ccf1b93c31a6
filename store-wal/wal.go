package storewal

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// maxSpares is how many emptied segments are kept for reuse.
const maxSpares = 2

// wal is the segment files and the index of the entries in them. The
// writer (the LogStore's, holding logkv.Log.WriteMu) appends; readers pread
// entry records under mu.
type wal struct {
	fs      fileSystem
	dir     string
	segSize int64
	log     *slog.Logger // never nil

	mu    sync.RWMutex // files and idx, against readers
	files map[uint64]file
	idx   index
	// stateAt is where the state's record lies (for tests that damage it).
	stateAt loc

	seqs    []uint64 // open segments, oldest first
	state   logkv.State
	cur     file
	curSeq  uint64
	curOff  int64
	curSize int64
	sealed  bool     // the current segment is full and sealed
	spares  []string // spare segments, reused before new ones are made
	// making receives the outcome of the spare segment (madeSpare) that a
	// goroutine is zero-filling, nil when none is.
	making chan error
	b      recordBuilder
	key    []byte
}

// openWAL replays the segments in dir, creating the first one in a new
// directory, and starts making a spare segment if there is none.
func openWAL(fs fileSystem, dir string, segSize int64, log *slog.Logger) (_ *wal, err error) {
	w := newWAL(fs, dir, segSize)
	w.log = log
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	seqs, spares, err := listSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	w.spares = spares
	for i, seq := range seqs {
		if err := w.replay(seq, i == len(seqs)-1); err != nil {
			return nil, err
		}
	}
	if len(w.idx.locs) > 0 && w.idx.end()-1 > w.state.LastIndex {
		return nil, fmt.Errorf("%w: storewal: entry %d stored beyond the log's last index %d", raftcore.ErrCorrupt, w.idx.end()-1, w.state.LastIndex)
	}
	w.idx.trim(w.state.DummyIndex+1, w.state.LastIndex)
	if len(seqs) == 0 {
		if err := w.startSegment(1, segSize); err != nil {
			return nil, err
		}
	}
	w.startMakingSpare()
	return w, nil
}

func newWAL(fs fileSystem, dir string, segSize int64) *wal {
	return &wal{fs: fs, dir: dir, segSize: segSize, log: slog.New(slog.DiscardHandler), files: map[uint64]file{}, state: logkv.NewState()}
}

// replay reads segment seq and applies its records. Every segment but the
// last must end with a seal; in the last, the first record that fails its
// checks ends the log, unless an intact record follows it, which only
// damage can explain.
func (w *wal) replay(seq uint64, last bool) error {
	name := filepath.Join(w.dir, segmentName(seq))
	flags := os.O_RDONLY
	if last {
		flags = os.O_RDWR
	}
	f, err := w.fs.OpenFile(name, flags, 0)
	if err != nil {
		return fmt.Errorf("storewal: opening %s: %w", name, err)
	}
	w.files[seq] = f
	w.seqs = append(w.seqs, seq)
	data, err := readAll(f, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("storewal: reading %s: %w", name, err)
	}
	off, sealed := 0, false
	for !sealed {
		payload, next, ok := parseRecord(data, off, seq)
		if !ok {
			break
		}
		switch payload[0] {
		case kindSeal:
			sealed = true
		case kindBatch:
			if err := w.apply(payload, seq, int64(off)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: storewal: record of unknown kind %d in %s", raftcore.ErrCorrupt, payload[0], name)
		}
		off = next
	}
	if !last && !sealed {
		return fmt.Errorf("%w: storewal: %s has a damaged record at offset %d", raftcore.ErrCorrupt, name, off)
	}
	if last && !sealed {
		for p := off + recordAlign; p+headerSize <= len(data); p += recordAlign {
			if _, _, ok := parseRecord(data, p, seq); ok {
				return fmt.Errorf("%w: storewal: %s has a damaged record at offset %d, before intact ones", raftcore.ErrCorrupt, name, off)
			}
		}
	}
	if last {
		w.cur, w.curSeq, w.curOff, w.curSize, w.sealed = f, seq, int64(off), int64(len(data)), sealed
	}
	return nil
}

// apply applies a batch record's operations to the index and the state;
// recOff is the record's offset in segment seq. The state comes first in a
// record: its bounds drop what the record's entries replace.
func (w *wal) apply(payload []byte, seq uint64, recOff int64) error {
	return forEachOp(payload, func(o op) error {
		if string(o.key) == logkv.StateKey {
			if o.kind == opDelete {
				w.state = logkv.NewState()
				return nil
			}
			state, err := logkv.DecodeState(o.value)
			if err != nil {
				return err
			}
			w.state = state
			w.stateAt = loc{seq: seq, off: uint32(recOff + headerSize + int64(o.valueOff)), n: uint32(len(o.value))}
			w.idx.trim(state.DummyIndex+1, state.LastIndex)
			return nil
		}
		i, ok := logkv.IndexOfKey(o.key)
		if !ok {
			return fmt.Errorf("%w: storewal: record of unknown key %q", raftcore.ErrCorrupt, o.key)
		}
		if o.kind == opDelete {
			w.idx.remove(i)
			return nil
		}
		off := recOff + headerSize + int64(o.valueOff)
		if len(o.value) == 0 || off+int64(len(o.value)) > maxSegmentSize {
			return fmt.Errorf("%w: storewal: entry %d has an empty or misplaced record", raftcore.ErrCorrupt, i)
		}
		return w.idx.set(i, loc{seq: seq, off: uint32(off), n: uint32(len(o.value))})
	})
}

// commit appends the batch built in w.b as one record, syncs it and applies
// it. An error wrapping ErrStoreFailed means the disk may hold part of it.
func (w *wal) commit() error {
	payload, seq, off, err := w.append()
	if err != nil {
		return err
	}
	w.mu.Lock()
	err = w.apply(payload, seq, off)
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStoreFailed, err)
	}
	return nil
}

// append writes the batch built in w.b as one record and syncs it; it
// returns the record's payload, segment and offset.
func (w *wal) append() (payload []byte, seq uint64, off int64, err error) {
	size := align(len(w.b.buf))
	if size > maxRecord {
		return nil, 0, 0, fmt.Errorf("storewal: a %d-byte Save exceeds the %d-byte record limit", size, maxRecord)
	}
	if w.sealed || w.curOff+int64(size)+sealSize > w.curSize {
		if err := w.rollover(size); err != nil {
			return nil, 0, 0, fmt.Errorf("%w: %w", ErrStoreFailed, err)
		}
	}
	n := len(w.b.buf) - headerSize
	rec := w.b.finish(w.curSeq)
	if _, err := w.cur.WriteAt(rec, w.curOff); err != nil {
		return nil, 0, 0, fmt.Errorf("%w: writing %s: %w", ErrStoreFailed, segmentName(w.curSeq), err)
	}
	if err := w.cur.SyncData(); err != nil {
		return nil, 0, 0, fmt.Errorf("%w: syncing %s: %w", ErrStoreFailed, segmentName(w.curSeq), err)
	}
	seq, off = w.curSeq, w.curOff
	w.curOff += int64(len(rec))
	return rec[headerSize : headerSize+n], seq, off, nil
}

// rollover ends the current segment with a seal and starts the next, large
// enough for a record of need bytes.
func (w *wal) rollover(need int) error {
	seq := w.curSeq + 1
	switch {
	case w.curOff == 0 && !w.sealed:
		// Empty (a crash interrupted its making, or a Save outgrew it):
		// replaced rather than sealed.
		if err := w.dropSegment(w.curSeq, false); err != nil {
			return err
		}
		seq = w.curSeq
	case !w.sealed:
		if _, err := w.cur.WriteAt(sealBytes(w.curSeq), w.curOff); err != nil {
			return err
		}
		// Durable before any record of the next segment: a segment
		// without its seal reads as damaged unless it is the last.
		if err := w.cur.SyncData(); err != nil {
			return err
		}
		w.curOff += sealSize
		w.sealed = true
	}
	return w.startSegment(seq, max(w.segSize, int64(need)+sealSize))
}

// startSegment makes segment seq, of at least size bytes, the current one:
// a spare renamed, or a new zero-filled file.
func (w *wal) startSegment(seq uint64, size int64) error {
	w.collectSpare(len(w.spares) == 0)
	defer w.startMakingSpare()
	name := filepath.Join(w.dir, segmentName(seq))
	var f file
	for len(w.spares) > 0 && f == nil {
		spare := filepath.Join(w.dir, w.spares[len(w.spares)-1])
		w.spares = w.spares[:len(w.spares)-1]
		var err error
		if f, size, err = w.openSpare(spare, name, size); err != nil {
			return err
		}
	}
	if f == nil {
		var err error
		if f, err = createZeroed(w.fs, name, size); err != nil {
			return err
		}
		if err := w.fs.SyncDir(w.dir); err != nil {
			f.Close()
			return err
		}
	}
	w.mu.Lock()
	w.files[seq] = f
	w.mu.Unlock()
	w.seqs = append(w.seqs, seq)
	w.cur, w.curSeq, w.curOff, w.curSize, w.sealed = f, seq, 0, size, false
	return nil
}

// openSpare renames spare to segment name if it holds at least size bytes
// and returns it open and its size. A spare too small, or that cannot be
// opened or sized, is removed: it returns a nil file then, and the caller
// takes another spare or makes the segment itself. A spare holds nothing of
// the log, so a failure to open, size or remove one is logged rather than
// returned; a spare that could not be removed is listed again by the next
// Open.
func (w *wal) openSpare(spare, name string, size int64) (file, int64, error) {
	f, err := w.fs.OpenFile(spare, os.O_RDWR, 0)
	var have int64
	if err == nil {
		if have, err = f.Size(); err != nil || have < size {
			f.Close()
		}
	}
	if err != nil || have < size {
		if err != nil {
			err = fmt.Errorf("storewal: reusing spare %s: %w", filepath.Base(spare), err)
		}
		if rmErr := w.fs.Remove(spare); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("storewal: removing spare %s: %w", filepath.Base(spare), rmErr))
		}
		if err != nil {
			w.log.Warn("storewal: a spare segment could not be reused; another spare or a new segment takes its place", "dir", w.dir, "error", err)
		}
		return nil, size, nil
	}
	if err := w.fs.Rename(spare, name); err != nil {
		f.Close()
		return nil, 0, err
	}
	// The records written next must be found under the new name.
	if err := w.fs.SyncDir(w.dir); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, have, nil
}

// madeSpare names the spare that startMakingSpare makes: its number is
// above every segment's sequence number, so that it never meets the name of
// a recycled segment (spareName of the segment's own number).
var madeSpare = spareName(1 << 63)

// startMakingSpare starts zero-filling a spare segment in a goroutine when
// there is no spare and none is being made, so that the next rollover
// renames one instead of filling a new segment while a Save waits.
func (w *wal) startMakingSpare() {
	if w.making != nil || len(w.spares) > 0 {
		return
	}
	done := make(chan error, 1)
	w.making = done
	fs, path, size := w.fs, filepath.Join(w.dir, madeSpare), w.segSize
	go func() {
		f, err := createZeroed(fs, path, size)
		if err == nil {
			if err = f.Close(); err != nil {
				fs.Remove(path)
			}
		}
		done <- err
	}()
}

// collectSpare adds the spare being made, if it is made, to the spares;
// with wait, it waits for it. A spare that could not be made is dropped:
// the next rollover then makes its segment itself, and reports the error if
// that fails too.
func (w *wal) collectSpare(wait bool) {
	if w.making == nil {
		return
	}
	var err error
	if wait {
		err = <-w.making
	} else {
		select {
		case err = <-w.making:
		default:
			return
		}
	}
	if err == nil {
		w.spares = append(w.spares, madeSpare)
	} else {
		w.log.Warn("storewal: a spare segment could not be made; the next rollover makes its segment itself", "dir", w.dir, "error", err)
	}
	w.making = nil
}

// createZeroed creates name filled with size zero bytes, synced: later
// writes overwrite allocated blocks, whose fdatasync is the cheapest.
func createZeroed(fs fileSystem, name string, size int64) (file, error) {
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
		_, err = f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		fs.Remove(name)
		return nil, fmt.Errorf("storewal: creating %s: %w", filepath.Base(name), err)
	}
	return f, nil
}

// recycle turns the segments that hold no entry of the log any more (all
// older than the one holding the first entry, never the current one) into
// spares, or deletes them beyond maxSpares. It runs once the state that
// compacted them is durable, so a failure changes nothing the log holds: a
// segment that cannot be renamed or removed stays open and listed, and the
// next recycle tries again (Open replays it and skips its compacted
// entries). The errors are therefore not the caller's.
func (w *wal) recycle() {
	keep := w.curSeq
	for _, l := range w.idx.locs {
		if l.n != 0 {
			keep = min(keep, l.seq)
			break
		}
	}
	for _, seq := range slices.Clone(w.seqs) {
		if seq >= keep {
			break
		}
		if err := w.dropSegment(seq, true); err != nil {
			w.log.Warn("storewal: an emptied segment stays until the next compaction", "dir", w.dir, "error", err)
		}
	}
}

// dropSegment removes segment seq, keeping it as a spare if reuse is set and
// there is room, then closes it. If the rename or the removal fails, the
// segment stays open and listed.
func (w *wal) dropSegment(seq uint64, reuse bool) error {
	name := filepath.Join(w.dir, segmentName(seq))
	spare := spareName(seq)
	spares := len(w.spares)
	if w.making != nil {
		spares++
	}
	if reuse && spares < maxSpares && !slices.Contains(w.spares, spare) {
		if err := w.fs.Rename(name, filepath.Join(w.dir, spare)); err != nil {
			return fmt.Errorf("storewal: recycling %s: %w", segmentName(seq), err)
		}
		w.spares = append(w.spares, spare)
	} else if err := w.fs.Remove(name); err != nil {
		return fmt.Errorf("storewal: removing %s: %w", segmentName(seq), err)
	}
	w.mu.Lock()
	f := w.files[seq]
	delete(w.files, seq)
	w.mu.Unlock()
	w.seqs = slices.DeleteFunc(w.seqs, func(s uint64) bool { return s == seq })
	// Nothing is written through f any more: a failed close loses nothing.
	f.Close()
	return nil
}

// read returns a copy of the record at l. The caller holds mu.
func (w *wal) read(l loc) ([]byte, error) {
	f := w.files[l.seq]
	if f == nil {
		return nil, fmt.Errorf("%w: storewal: segment %d is gone", raftcore.ErrCorrupt, l.seq)
	}
	buf := make([]byte, l.n)
	if _, err := f.ReadAt(buf, int64(l.off)); err != nil {
		return nil, fmt.Errorf("storewal: reading %s at %d: %w", segmentName(l.seq), l.off, err)
	}
	return buf, nil
}

func (w *wal) close() error {
	w.collectSpare(true)
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.Close())
	}
	w.files = nil
	return errors.Join(errs...)
}

// entryKey is the key of entry i, in a buffer the writer reuses.
func (w *wal) entryKey(i uint64) []byte {
	w.key = logkv.AppendEntryKey(w.key[:0], i)
	return w.key
}
