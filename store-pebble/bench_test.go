package storepebble_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-pebble"
)

func BenchmarkSave(b *testing.B) {
	storetest.BenchmarkSave(b,
		storetest.BenchStore{Name: "pebble", Open: func(b *testing.B) raftcore.LogStore {
			return openBenchStore(b, storepebble.Config{Dir: b.TempDir()})
		}},
		// The same store on an in-memory filesystem: the cost of everything
		// but the disk.
		storetest.BenchStore{Name: "pebble-memfs", Open: func(b *testing.B) raftcore.LogStore {
			return openBenchStore(b, storepebble.Config{Dir: "/bench", FS: vfs.NewMem()})
		}},
	)
}

func openBenchStore(b *testing.B, cfg storepebble.Config) *storepebble.LogStore {
	s, err := storepebble.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkFdatasyncFloor(b *testing.B) { storetest.BenchmarkFdatasyncFloor(b) }

// BenchmarkEntries reads at the tail (in the memtable) and after a reopen
// (from sstables).
func BenchmarkEntries(b *testing.B) { storetest.BenchmarkEntries(b, openStore) }

func BenchmarkOpenLog1M(b *testing.B) { storetest.BenchmarkOpenLog1M(b, openStore) }

func BenchmarkSaveOverFdatasync(b *testing.B) { storetest.BenchmarkSaveOverFdatasync(b, openStore) }
