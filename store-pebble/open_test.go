package storepebble_test

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-pebble"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   storepebble.Config
		valid bool
	}{
		{"directory only", storepebble.Config{Dir: "/data"}, true},
		{"every field", storepebble.Config{Dir: "/data", FS: vfs.NewMem(), CacheSize: 1 << 20, MemTableSize: 1 << 20}, true},
		{"no directory", storepebble.Config{}, false},
		{"negative cache", storepebble.Config{Dir: "/data", CacheSize: -1}, false},
		{"tiny memtable", storepebble.Config{Dir: "/data", MemTableSize: 1024}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.valid != (err == nil) {
				t.Fatalf("Validate() = %v, want valid %v", err, c.valid)
			}
			if err != nil && !errors.Is(err, raftcore.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if c.valid {
				return
			}
			if _, err := storepebble.Open(c.cfg); !errors.Is(err, raftcore.ErrInvalidConfig) {
				t.Fatalf("Open: error %v, want ErrInvalidConfig", err)
			}
		})
	}
	if err := (storepebble.SnapshotConfig{}).Validate(); !errors.Is(err, raftcore.ErrInvalidConfig) {
		t.Fatalf("SnapshotConfig{}.Validate() = %v, want ErrInvalidConfig", err)
	}
}

func TestDataDirectory(t *testing.T) {
	storetest.RunDataDir(t, storetest.DataDir{
		Open:                  openStore,
		Marker:                "jangada storepebble v1\n",
		ErrLocked:             storepebble.ErrLocked,
		ErrIncompatibleFormat: storepebble.ErrIncompatibleFormat,
		Foreign: map[string]map[string]string{
			"badger store": {"JANGADA_FORMAT": "jangada storebadger v1\n", "MANIFEST": "badger"},
		},
	})
}

// TestSecondOpenInMemoryIsRefused checks the lock of a directory on an
// in-memory filesystem, which pebble keeps itself.
func TestSecondOpenInMemoryIsRefused(t *testing.T) {
	cfg := storepebble.Config{Dir: "/data", FS: vfs.NewMem()}
	storetest.CheckSecondOpenRefused(t, func() (raftcore.LogStore, error) {
		s, err := storepebble.Open(cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	}, storepebble.ErrLocked)
}
