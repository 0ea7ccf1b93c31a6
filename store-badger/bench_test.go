package storebadger_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-badger"
)

func BenchmarkSave(b *testing.B) {
	storetest.BenchmarkSave(b, storetest.BenchStore{Name: "badger", Open: func(b *testing.B) raftcore.LogStore {
		s, err := storebadger.Open(storebadger.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}})
}

func BenchmarkFdatasyncFloor(b *testing.B) { storetest.BenchmarkFdatasyncFloor(b) }

func BenchmarkEntries(b *testing.B) { storetest.BenchmarkEntries(b, openStore) }

func BenchmarkOpenLog1M(b *testing.B) { storetest.BenchmarkOpenLog1M(b, openStore) }

func BenchmarkSaveOverFdatasync(b *testing.B) { storetest.BenchmarkSaveOverFdatasync(b, openStore) }
