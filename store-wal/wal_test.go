package storewal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

func openSmall(t *testing.T, dir string) *LogStore {
	t.Helper()
	s, err := Open(Config{Dir: dir, SegmentSize: minSegmentSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func entries(lo, hi uint64, size int) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		data := bytes.Repeat([]byte{byte(i)}, size)
		out = append(out, &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Type: new(raftpb.EntryNormal), Data: data})
	}
	return out
}

func mustSave(t *testing.T, s *LogStore, ents []*raftpb.Entry) {
	t.Helper()
	if err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(0))}, ents, nil); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func mustOpen(t *testing.T, cfg Config, fs fileSystem) *LogStore {
	t.Helper()
	s, err := open(cfg, fs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustClose(t *testing.T, s *LogStore) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// damage overwrites n bytes at off in segment seq of the closed store in dir.
func damage(t *testing.T, dir string, seq uint64, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, segmentName(seq)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), off); err != nil {
		t.Fatal(err)
	}
}

func lastIndex(t *testing.T, s *LogStore) uint64 {
	t.Helper()
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// TestRandomWorkloadSurvivesReopenAcrossSegments runs the shared random
// workload (appends, overwritten suffixes, snapshots, compactions) over many
// small segments, reopening now and then: the store always holds what the
// model says, and compaction keeps the number of files bounded.
func TestRandomWorkloadSurvivesReopenAcrossSegments(t *testing.T) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	s := openSmall(t, dir)
	defer func() { s.Close() }()
	state := storetest.LogState{}
	rolled := uint64(0)
	for i := range 6000 {
		op := storetest.NextOp(rng, state)
		if err := op.Apply(s); err != nil {
			t.Fatalf("seed %d: op %d %s: %v", seed, i, op.Name, err)
		}
		state = op.Next
		if i%7 == 0 { // fills segments faster
			if err := s.w.padForTest(); err != nil {
				t.Fatal(err)
			}
		}
		rolled = max(rolled, s.w.curSeq)
		if i%1000 == 999 {
			mustClose(t, s)
			s = openSmall(t, dir)
			if diff := storetest.DiffState(s, state); diff != "" {
				t.Fatalf("seed %d: after reopening at op %d: %s", seed, i, diff)
			}
			segments, spares, err := SegmentFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(spares) > maxSpares || len(segments) > 8 {
				t.Fatalf("seed %d: %d segments and %d spares on disk after op %d: compaction does not free them", seed, len(segments), len(spares), i)
			}
		}
	}
	if rolled < 4 {
		t.Fatalf("the workload used %d segments; it should roll over several times", rolled)
	}
}

// padForTest appends a record of about 1 KiB that changes nothing: the
// current state, and deletions of entry 0, which no log holds.
func (w *wal) padForTest() error { return w.pad(80) }

// pad appends a record that changes nothing, the current state and
// deletions of entry 0, about 12 bytes for each of deletions.
func (w *wal) pad(deletions int) error {
	state, err := w.state.Encode()
	if err != nil {
		return err
	}
	w.b.reset()
	if err := w.b.set([]byte(logkv.StateKey), func(dst []byte) ([]byte, error) { return append(dst, state...), nil }); err != nil {
		return err
	}
	for range deletions {
		w.b.delete(logkv.EntryKey(0))
	}
	return w.commit()
}

// TestTornLastSaveIsDropped damages the last record, as a crash during its
// write leaves it: the store opens with the Saves before it.
func TestTornLastSaveIsDropped(t *testing.T) {
	dir := t.TempDir()
	s := openSmall(t, dir)
	mustSave(t, s, entries(1, 5, 100))
	seq, at := s.w.curSeq, s.w.curOff
	mustSave(t, s, entries(6, 10, 100))
	mustClose(t, s)
	damage(t, dir, seq, at+headerSize+40, 8)
	s = openSmall(t, dir)
	defer s.Close()
	if last := lastIndex(t, s); last != 5 {
		t.Fatalf("LastIndex after a torn Save = %d, want 5", last)
	}
	// The next Save goes where the torn one was.
	mustSave(t, s, entries(6, 7, 100))
	if got, err := s.Entries(1, 8, 1<<30); err != nil || len(got) != 7 {
		t.Fatalf("Entries = %d, %v; want 7", len(got), err)
	}
}

// TestDamagedRecordBeforeIntactOnesIsReported damages a Save that later
// Saves follow: no crash leaves that, so Open reports corruption instead of
// dropping acknowledged Saves.
func TestDamagedRecordBeforeIntactOnesIsReported(t *testing.T) {
	dir := t.TempDir()
	s := openSmall(t, dir)
	mustSave(t, s, entries(1, 5, 100))
	seq, at := s.w.curSeq, s.w.curOff
	mustSave(t, s, entries(6, 10, 100))
	mustSave(t, s, entries(11, 12, 100))
	mustClose(t, s)
	damage(t, dir, seq, at+headerSize+40, 1)
	if s, err := Open(Config{Dir: dir, SegmentSize: minSegmentSize}); !errors.Is(err, raftcore.ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open: error %v, want ErrCorrupt", err)
	}
}

// TestSegmentWithoutItsSealIsReported damages the end of a full segment:
// only its last record can be torn by a crash, never one of a segment a
// later one follows.
func TestSegmentWithoutItsSealIsReported(t *testing.T) {
	dir := t.TempDir()
	s := openSmall(t, dir)
	var sealAt int64
	for i := uint64(1); s.w.curSeq == 1; i += 10 {
		sealAt = s.w.curOff
		mustSave(t, s, entries(i, i+9, 1000))
	}
	mustClose(t, s)
	damage(t, dir, 1, sealAt, 1)
	if s, err := Open(Config{Dir: dir, SegmentSize: minSegmentSize}); !errors.Is(err, raftcore.ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open: error %v, want ErrCorrupt", err)
	}
}

// TestSaveLargerThanASegment gets a segment of its own, and survives a
// reopen.
func TestSaveLargerThanASegment(t *testing.T) {
	dir := t.TempDir()
	s := openSmall(t, dir)
	mustSave(t, s, entries(1, 1, 100))
	mustSave(t, s, entries(2, 4, 1<<20)) // 3 MiB in one Save
	mustSave(t, s, entries(5, 5, 100))
	mustClose(t, s)
	s = openSmall(t, dir)
	defer s.Close()
	got, err := s.Entries(1, 6, 1<<30)
	if err != nil || len(got) != 5 {
		t.Fatalf("Entries = %d, %v; want 5", len(got), err)
	}
	for _, e := range got {
		if want := entries(e.GetIndex(), e.GetIndex(), len(e.GetData()))[0].GetData(); !bytes.Equal(e.GetData(), want) {
			t.Fatalf("entry %d reads back different data", e.GetIndex())
		}
	}
}

// TestSparesAreReused checks that compaction turns emptied segments into
// spares that later rollovers take instead of making new files.
func TestSparesAreReused(t *testing.T) {
	dir := t.TempDir()
	s := openSmall(t, dir)
	defer s.Close()
	next := uint64(1)
	for round := range 6 {
		for seq := s.w.curSeq; s.w.curSeq == seq; next += 10 {
			mustSave(t, s, entries(next, next+9, 1000))
		}
		meta := &raftpb.SnapshotMetadata{Index: new(next - 1), Term: new(uint64(1)), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}
		if err := s.SetSnapshot(meta); err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(next - 1); err != nil {
			t.Fatal(err)
		}
		segments, spares, err := SegmentFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(segments) != 1 || len(spares) < 1 || len(spares) > maxSpares {
			t.Fatalf("round %d: %d segments and %d spares after compacting everything, want 1 and 1..%d", round, len(segments), len(spares), maxSpares)
		}
	}
}

func TestConfigIsValidated(t *testing.T) {
	for _, cfg := range []Config{{}, {Dir: t.TempDir(), SegmentSize: 1000}, {Dir: t.TempDir(), SegmentSize: 2 << 30}} {
		if _, err := Open(cfg); !errors.Is(err, raftcore.ErrInvalidConfig) {
			t.Errorf("Open(%+v): error %v, want ErrInvalidConfig", cfg, err)
		}
	}
}
