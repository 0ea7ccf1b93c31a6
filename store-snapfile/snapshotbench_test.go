package storesnapfile_test

import (
	"io"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// BenchmarkSnapshotStore writes and reads back a 16 MiB snapshot of
// half-compressible data in 256 KiB writes: compression, checksum, the
// synced commit and the verified read.
func BenchmarkSnapshotStore(b *testing.B) {
	const size, chunk = 16 << 20, 256 << 10
	data := make([]byte, chunk)
	for i := range data {
		if i%2 == 0 {
			data[i] = byte(i * 7919 >> 3)
		}
	}
	store := openTestSnapshotStore(b, b.TempDir())
	meta := raftcore.SnapshotMeta{Index: 1, Term: 1, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}
	b.Run("write", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			sink, err := store.Create(meta)
			if err != nil {
				b.Fatal(err)
			}
			for written := 0; written < size; written += chunk {
				if _, err := sink.Write(data); err != nil {
					b.Fatal(err)
				}
			}
			if err := sink.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			_, r, err := store.Open(1)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != size {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			r.Close()
		}
	})
}
