package storesnapfile_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	storesnapfile "github.com/jangada-io/jangada/store-snapfile"
)

func openTestSnapshotStore(t testing.TB, dir string) *storesnapfile.SnapshotStore {
	t.Helper()
	s, err := storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{Dir: dir})
	if err != nil {
		t.Fatalf("OpenSnapshotStore(%s): %v", dir, err)
	}
	return s
}

func TestSnapshotStoreConformance(t *testing.T) {
	storetest.RunSnapshotStore(t, func(t *testing.T) (raftcore.SnapshotStore, storetest.Reopen[raftcore.SnapshotStore]) {
		dir := t.TempDir()
		return openTestSnapshotStore(t, dir), func(t *testing.T) raftcore.SnapshotStore { return openTestSnapshotStore(t, dir) }
	})
}
