package storebadger_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/store-badger"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "storebadger-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		panic(err)
	}
	hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(uint64(0))}
	entries := []*raftpb.Entry{
		{Index: new(uint64(1)), Term: new(uint64(1)), Data: []byte("first")},
		{Index: new(uint64(2)), Term: new(uint64(1)), Data: []byte("second")},
	}
	// One synced batch: durable when Save returns.
	if err := store.Save(hs, entries, nil); err != nil {
		panic(err)
	}
	if err := store.Close(); err != nil {
		panic(err)
	}

	store, err = storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	last, _ := store.LastIndex()
	got, _ := store.Entries(1, last+1, 1<<20)
	for _, e := range got {
		fmt.Printf("%d: %s\n", e.GetIndex(), e.GetData())
	}
	// Output:
	// 1: first
	// 2: second
}

func ExampleOpenSnapshotStore() {
	dir, err := os.MkdirTemp("", "storebadger-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	snaps, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: filepath.Join(dir, "snapshots")})
	if err != nil {
		panic(err)
	}
	sink, err := snaps.Create(raftcore.SnapshotMeta{Index: 42, Term: 3, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}})
	if err != nil {
		panic(err)
	}
	if _, err := io.WriteString(sink, "state machine bytes"); err != nil {
		panic(err)
	}
	if err := sink.Commit(); err != nil {
		panic(err)
	}

	meta, r, err := snaps.Open(42)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r) // fails with raftcore.ErrCorrupt if the file was damaged
	if err != nil {
		panic(err)
	}
	fmt.Printf("snapshot %d at term %d, voters %v: %s (%d bytes)\n", meta.Index, meta.Term, meta.ConfState.GetVoters(), data, meta.Size)
	// Output:
	// snapshot 42 at term 3, voters [1 2 3]: state machine bytes (19 bytes)
}
