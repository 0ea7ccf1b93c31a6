package storebadger_test

import (
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-badger"
)

// TestSaveLargerThanATransactionFailsAndChangesNothing checks that a Save
// badger cannot commit in one transaction is refused as a whole.
func TestSaveLargerThanATransactionFailsAndChangesNothing(t *testing.T) {
	store := openTestStore(t, storebadger.Config{Dir: t.TempDir(), MemTableSize: 1 << 20})
	defer store.Close()
	if err := store.Save(nil, []*raftpb.Entry{storetest.WorkloadEntry(1, 1)}, nil); err != nil {
		t.Fatal(err)
	}
	big := make([]*raftpb.Entry, 64)
	for i := range big {
		big[i] = &raftpb.Entry{Index: new(uint64(i + 2)), Term: new(uint64(1)), Data: make([]byte, 64<<10)}
	}
	hs := &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(uint64(1))}
	if err := store.Save(hs, big, nil); !errors.Is(err, storebadger.ErrInvalidSave) {
		t.Fatalf("Save of 4 MiB with a 1 MiB memtable: error %v, want ErrInvalidSave", err)
	}
	if diff := storetest.DiffState(store, storetest.LogState{Terms: []uint64{1}}); diff != "" {
		t.Fatalf("after the refused Save: %s", diff)
	}
}
