package storebadger_test

import (
	"testing"

	"go.uber.org/goleak"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-badger"
)

func TestMain(m *testing.M) {
	if storetest.CrashChildMain(openStore) {
		return
	}
	goleak.VerifyTestMain(m)
}

// openStore opens a store on disk with the default configuration.
func openStore(dir string) (raftcore.LogStore, error) {
	s, err := storebadger.Open(storebadger.Config{Dir: dir})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openTestStore(t *testing.T, cfg storebadger.Config) *storebadger.LogStore {
	t.Helper()
	s, err := storebadger.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	return s
}

func TestLogStoreConformance(t *testing.T) {
	storetest.RunLogStore(t, func(t *testing.T) (raftcore.LogStore, storetest.Reopen[raftcore.LogStore]) {
		cfg := storebadger.Config{Dir: t.TempDir()}
		return openTestStore(t, cfg), func(t *testing.T) raftcore.LogStore { return openTestStore(t, cfg) }
	})
}

// TestKillDuringSavesLosesNothingAcknowledged kills a process writing to
// the store with SIGKILL, again and again, and checks that every Save it
// acknowledged survives.
func TestKillDuringSavesLosesNothingAcknowledged(t *testing.T) {
	storetest.RunKillDuringSaves(t, openStore, storebadger.ErrLocked)
}
