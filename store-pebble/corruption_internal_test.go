package storepebble

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
)

// rawDB is a pebble database opened without the store, for tests that
// damage it. Every write is synced.
type rawDB struct{ db *pebble.DB }

func (r rawDB) Get(key []byte) ([]byte, error) {
	value, closer, err := r.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), value...), nil
}

func (r rawDB) Set(key, value []byte) error { return r.db.Set(key, value, pebble.Sync) }
func (r rawDB) Delete(key []byte) error     { return r.db.Delete(key, pebble.Sync) }

// tamper opens the store's pebble database directly and applies change.
func tamper(t *testing.T, dir string, change func(storetest.RawKV) error) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FS: vfs.Default, Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		t.Fatal(err)
	}
	if err := change(rawDB{db}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecordsAreReportedNotReturned(t *testing.T) {
	storetest.RunCorruption(t, storetest.Corruption{
		Open: func(dir string) (raftcore.LogStore, error) {
			s, err := Open(Config{Dir: dir})
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Tamper: tamper,
		Stray:  storetest.StrayEntriesCorrupt,
	})
}
