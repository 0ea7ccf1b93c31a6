package storetest

import (
	"path/filepath"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

func TestDirStoresGiveEachNodeItsOwnDirectories(t *testing.T) {
	var logDirs, snapDirs []string
	stores := DirStores{
		Root: "/root",
		OpenLog: func(dir string) (raftcore.LogStore, error) {
			logDirs = append(logDirs, dir)
			return raftcore.NewMemoryLogStore(), nil
		},
		OpenSnapshots: func(dir string) (raftcore.SnapshotStore, error) {
			snapDirs = append(snapDirs, dir)
			return raftcore.NewMemorySnapshotStore(), nil
		},
	}
	for _, id := range []uint64{1, 2, 1} {
		ls, ss := stores.Open(t, id)
		if ls == nil || ss == nil {
			t.Fatalf("node %d: nil store", id)
		}
		ls.Close()
	}
	want := []string{"node-1", "node-2", "node-1"}
	for i, node := range want {
		if logDirs[i] != filepath.Join("/root", node, "log") || snapDirs[i] != filepath.Join("/root", node, "snapshots") {
			t.Fatalf("open %d: directories %s and %s, want those of %s", i, logDirs[i], snapDirs[i], node)
		}
	}
}
