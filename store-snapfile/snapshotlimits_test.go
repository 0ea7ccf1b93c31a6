package storesnapfile_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	storesnapfile "github.com/jangada-io/jangada/store-snapfile"
)

// hugeConfState encodes to more than the 1 MiB a snapshot header may hold.
func hugeConfState() *raftpb.ConfState {
	voters := make([]uint64, 300_000)
	for i := range voters {
		voters[i] = 1<<32 + uint64(i)
	}
	return &raftpb.ConfState{Voters: voters}
}

func commitSnapshot(t *testing.T, store *storesnapfile.SnapshotStore, index uint64, data string) {
	t.Helper()
	sink, err := store.Create(raftcore.SnapshotMeta{Index: index, Term: 1, ConfState: &raftpb.ConfState{Voters: []uint64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sink, data); err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRefusesAHeaderTheReaderWouldRefuse(t *testing.T) {
	dir := t.TempDir()
	store := openTestSnapshotStore(t, dir)
	commitSnapshot(t, store, 3, "older")

	sink, err := store.Create(raftcore.SnapshotMeta{Index: 9, Term: 2, ConfState: hugeConfState()})
	if err == nil {
		_, _ = sink.Write([]byte("data"))
		err = sink.Commit()
	}
	if !errors.Is(err, storesnapfile.ErrHeaderTooLarge) {
		t.Fatalf("creating a snapshot with a 1.5 MB ConfState: %v, want ErrHeaderTooLarge", err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 || filepath.Base(names[0]) != "0000000000000003.snap" {
		t.Fatalf("files after the refused snapshot: %v, want only snapshot 3", names)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].Index != 3 {
		t.Fatalf("List: %v, %v; want snapshot 3", list, err)
	}
}

func TestListSkipsAnUnreadableOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	store, err := storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	commitSnapshot(t, store, 5, "five")
	commitSnapshot(t, store, 7, "seven")
	damage := func(index string) {
		t.Helper()
		name := filepath.Join(dir, index+".snap")
		file, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		file[20] ^= 0x01 // in the header: its checksum fails
		if err := os.WriteFile(name, file, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	damage("0000000000000005")
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].Index != 7 {
		t.Fatalf("List with snapshot 5 damaged: %v, %v; want snapshot 7 alone", list, err)
	}
	if !strings.Contains(logs.String(), "0000000000000005.snap") {
		t.Fatalf("the skipped file is not logged; logs:\n%s", logs.String())
	}
	if _, _, err := store.Open(5); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("Open of the damaged snapshot: %v, want ErrCorrupt", err)
	}

	// The newest snapshot is the one the log records: List never hides it.
	damage("0000000000000007")
	if list, err := store.List(); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("List with the newest snapshot damaged: %v, %v; want ErrCorrupt", list, err)
	}
}

func TestSnapshotDirectoryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "snapshots")
	openTestSnapshotStore(t, dir)
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("snapshot directory created with mode %v, want no access for group and others", perm)
	}
}
