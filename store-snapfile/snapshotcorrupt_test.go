package storesnapfile_test

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

func TestDamagedSnapshotIsReportedAsCorrupt(t *testing.T) {
	data := bytes.Repeat([]byte("state machine contents "), 10_000)
	cases := []struct {
		name   string
		damage func(file []byte) []byte
	}{
		{"flipped bit in the compressed data", func(f []byte) []byte { f[len(f)/2] ^= 0x01; return f }},
		{"flipped bit in the header", func(f []byte) []byte { f[20] ^= 0x01; return f }},
		{"flipped bit in the data checksum", func(f []byte) []byte { f[len(f)-6] ^= 0x01; return f }},
		{"changed size in the trailer", func(f []byte) []byte { f[len(f)-9] ^= 0x01; return f }},
		{"file cut in the middle", func(f []byte) []byte { return f[:len(f)/2] }},
		{"file cut to a few bytes", func(f []byte) []byte { return f[:5] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			store := openTestSnapshotStore(t, dir)
			sink, err := store.Create(raftcore.SnapshotMeta{Index: 7, Term: 2, ConfState: &raftpb.ConfState{Voters: []uint64{1}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sink.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := sink.Commit(); err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, "0000000000000007.snap")
			file, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, c.damage(file), 0o644); err != nil {
				t.Fatal(err)
			}

			_, r, err := store.Open(7)
			if err == nil {
				_, err = io.ReadAll(r)
				r.Close()
			}
			if !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("reading the damaged snapshot: error %v, want ErrCorrupt", err)
			}
		})
	}
}
