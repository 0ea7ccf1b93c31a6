package storewal_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	storewal "github.com/jangada-io/jangada/store-wal"
)

func BenchmarkSave(b *testing.B) {
	storetest.BenchmarkSave(b, storetest.BenchStore{Name: "wal", Open: func(b *testing.B) raftcore.LogStore {
		s, err := storewal.Open(storewal.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}})
}

func BenchmarkFdatasyncFloor(b *testing.B) { storetest.BenchmarkFdatasyncFloor(b) }

func BenchmarkEntries(b *testing.B) { storetest.BenchmarkEntries(b, openStore) }

func BenchmarkSaveOverFdatasync(b *testing.B) { storetest.BenchmarkSaveOverFdatasync(b, openStore) }
