package storebadger_test

import (
	"fmt"
	"path/filepath"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	storebadger "github.com/jangada-io/jangada/store-badger"
)

// dirStores opens each node's stores under one temporary directory, so a
// node restarted by a scenario finds what it persisted.
type dirStores struct{ root string }

func (s dirStores) Open(t testing.TB, id uint64) (raftcore.LogStore, raftcore.SnapshotStore) {
	dir := filepath.Join(s.root, fmt.Sprintf("node-%d", id))
	ls, err := storebadger.Open(storebadger.Config{Dir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatalf("open log store of node %d: %v", id, err)
	}
	ss, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: filepath.Join(dir, "snapshots")})
	if err != nil {
		t.Fatalf("open snapshot store of node %d: %v", id, err)
	}
	return ls, ss
}

// TestClusterScenarios runs the engine's cluster scenarios with every node
// on this store: kills and restarts reopen the node's directory.
func TestClusterScenarios(t *testing.T) {
	clustertest.Run(t, clustertest.Options{
		NewNetwork: clustertest.NewLoopback,
		NewStores:  func(t testing.TB) clustertest.Stores { return dirStores{root: t.TempDir()} },
		Short:      true,
	})
}
