package storesnapfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// FuzzReadSnapshotFile feeds arbitrary bytes to the reader of snapshot
// files, as a damaged or hostile disk would: the header and trailer checks,
// then the decompression and checksum of the data. It must never panic nor
// allocate by a length it read; a file it accepts must name the requested
// index and carry a header the writer would write again; reading the data
// ends in io.EOF or an error wrapping raftcore.ErrCorrupt. The seeds are
// files written by the store (and testdata/fuzz/FuzzReadSnapshotFile).
func FuzzReadSnapshotFile(f *testing.F) {
	dir := f.TempDir()
	store, err := OpenSnapshotStore(SnapshotConfig{Dir: dir})
	if err != nil {
		f.Fatal(err)
	}
	seeds := []struct {
		meta raftcore.SnapshotMeta
		data []byte
	}{
		{raftcore.SnapshotMeta{Index: 7, Term: 2, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}, []byte("state machine contents")},
		{raftcore.SnapshotMeta{Index: 1, Term: 1}, nil},
		{raftcore.SnapshotMeta{Index: 1 << 40, Term: 9, ConfState: &raftpb.ConfState{Voters: []uint64{1}, Learners: []uint64{4}, VotersOutgoing: []uint64{2}, AutoLeave: new(true)}}, bytes.Repeat([]byte("abc"), 5000)},
	}
	for _, seed := range seeds {
		sink, err := store.Create(seed.meta)
		if err != nil {
			f.Fatal(err)
		}
		if _, err := sink.Write(seed.data); err != nil {
			f.Fatal(err)
		}
		if err := sink.Commit(); err != nil {
			f.Fatal(err)
		}
		file, err := os.ReadFile(filepath.Join(dir, snapshotName(seed.meta.Index)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file, seed.meta.Index)
	}
	f.Fuzz(func(t *testing.T, data []byte, index uint64) {
		file, err := parseSnapshotFile(bytes.NewReader(data), int64(len(data)), index)
		if err != nil {
			if _, ok := errors.AsType[errMalformed](err); !ok {
				t.Fatalf("error %v (%T) is not an errMalformed", err, err)
			}
			return
		}
		if file.meta.Index != index || file.meta.Size < 0 {
			t.Fatalf("accepted %+v for index %d", file.meta, index)
		}
		if _, err := encodeHeader(file.meta); err != nil {
			t.Fatalf("accepted a header the writer refuses: %v", err)
		}
		r, err := file.reader(io.NopCloser(nil), index)
		if err != nil {
			return
		}
		defer r.Close()
		// Bounded: a small file may claim and decompress to a lot.
		_, err = io.CopyN(io.Discard, r, 4<<20)
		if err != nil && err != io.EOF && !errors.Is(err, raftcore.ErrCorrupt) {
			t.Fatalf("reading the data: %v, want io.EOF or ErrCorrupt", err)
		}
	})
}
