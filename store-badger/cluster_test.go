package storebadger_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/storetest"
	storebadger "github.com/jangada-io/jangada/store-badger"
)

func openSnapshotStore(dir string) (raftcore.SnapshotStore, error) {
	s, err := storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: dir})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// TestClusterScenarios runs the engine's cluster scenarios with every node
// on this store: kills and restarts reopen the node's directory.
func TestClusterScenarios(t *testing.T) {
	clustertest.Run(t, clustertest.Options{
		NewNetwork: clustertest.NewLoopback,
		NewStores: func(t testing.TB) clustertest.Stores {
			return storetest.DirStores{Root: t.TempDir(), OpenLog: openStore, OpenSnapshots: openSnapshotStore}
		},
		Short: true,
	})
}
