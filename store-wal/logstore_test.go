package storewal_test

import (
	"testing"

	"go.uber.org/goleak"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	storewal "github.com/jangada-io/jangada/store-wal"
)

func TestMain(m *testing.M) {
	if storetest.CrashChildMain(openStore) {
		return
	}
	goleak.VerifyTestMain(m)
}

// testSegment is the smallest segment size: tests roll over often.
const testSegment = 1 << 20

// openStore opens a store on disk with small segments.
func openStore(dir string) (raftcore.LogStore, error) {
	s, err := storewal.Open(storewal.Config{Dir: dir, SegmentSize: testSegment})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openTestStore(t *testing.T, dir string) *storewal.LogStore {
	t.Helper()
	s, err := storewal.Open(storewal.Config{Dir: dir, SegmentSize: testSegment})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func TestLogStoreConformance(t *testing.T) {
	storetest.RunLogStore(t, func(t *testing.T) (raftcore.LogStore, storetest.Reopen[raftcore.LogStore]) {
		dir := t.TempDir()
		return openTestStore(t, dir), func(t *testing.T) raftcore.LogStore { return openTestStore(t, dir) }
	})
}

// TestKillDuringSavesLosesNothingAcknowledged kills a process writing to
// the store with SIGKILL, again and again, and checks that every Save it
// acknowledged survives.
func TestKillDuringSavesLosesNothingAcknowledged(t *testing.T) {
	storetest.RunKillDuringSaves(t, openStore, storewal.ErrLocked)
}

func TestDataDir(t *testing.T) {
	storetest.RunDataDir(t, storetest.DataDir{
		Open:                  openStore,
		Marker:                "jangada storewal v1\n",
		ErrLocked:             storewal.ErrLocked,
		ErrIncompatibleFormat: storewal.ErrIncompatibleFormat,
		Foreign: map[string]map[string]string{
			"a storepebble directory": {"JANGADA_FORMAT": "jangada storepebble v1\n", "000002.log": ""},
		},
	})
}

func TestCorruptionIsReported(t *testing.T) {
	storetest.RunCorruption(t, storetest.Corruption{
		Open: openStore,
		Tamper: func(t *testing.T, dir string, change func(storetest.RawKV) error) {
			t.Helper()
			if err := storewal.Tamper(dir, change); err != nil {
				t.Fatal(err)
			}
		},
		Stray: storetest.StrayEntriesCorrupt,
	})
}
