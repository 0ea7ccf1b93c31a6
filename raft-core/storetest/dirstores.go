package storetest

import (
	"fmt"
	"path/filepath"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// DirStores opens each node's stores under one directory, in
// Root/node-<id>/log and Root/node-<id>/snapshots, so that a node restarted
// by a clustertest scenario finds what it persisted. It is a
// clustertest.Stores for durable stores.
type DirStores struct {
	Root          string
	OpenLog       OpenFunc
	OpenSnapshots func(dir string) (raftcore.SnapshotStore, error)
}

// Open opens the stores of node id, failing t if either does not open.
func (s DirStores) Open(t testing.TB, id uint64) (raftcore.LogStore, raftcore.SnapshotStore) {
	t.Helper()
	dir := filepath.Join(s.Root, fmt.Sprintf("node-%d", id))
	ls, err := s.OpenLog(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatalf("open log store of node %d: %v", id, err)
	}
	ss, err := s.OpenSnapshots(filepath.Join(dir, "snapshots"))
	if err != nil {
		ls.Close()
		t.Fatalf("open snapshot store of node %d: %v", id, err)
	}
	return ls, ss
}
