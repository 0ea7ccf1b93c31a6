package storetest_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
)

func TestMemorySnapshotStoreConformance(t *testing.T) {
	storetest.RunSnapshotStore(t, func(t *testing.T) (raftcore.SnapshotStore, storetest.Reopen[raftcore.SnapshotStore]) {
		return raftcore.NewMemorySnapshotStore(), nil
	})
}

func TestMemoryLogStoreConformance(t *testing.T) {
	storetest.RunLogStore(t, func(t *testing.T) (raftcore.LogStore, storetest.Reopen[raftcore.LogStore]) {
		return raftcore.NewMemoryLogStore(), nil
	})
}
