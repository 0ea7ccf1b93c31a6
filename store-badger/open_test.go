package storebadger_test

import (
	"errors"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/storetest"
	"github.com/jangada-io/jangada/store-badger"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   storebadger.Config
		valid bool
	}{
		{"directory only", storebadger.Config{Dir: "/data"}, true},
		{"every field", storebadger.Config{Dir: "/data", Logger: nil, BlockCacheSize: 1 << 20, MemTableSize: 1 << 20}, true},
		{"no directory", storebadger.Config{}, false},
		{"negative cache", storebadger.Config{Dir: "/data", BlockCacheSize: -1}, false},
		{"tiny memtable", storebadger.Config{Dir: "/data", MemTableSize: 1024}, false},
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
			if _, err := storebadger.Open(c.cfg); !errors.Is(err, raftcore.ErrInvalidConfig) {
				t.Fatalf("Open: error %v, want ErrInvalidConfig", err)
			}
		})
	}
	if err := (storebadger.SnapshotConfig{}).Validate(); !errors.Is(err, raftcore.ErrInvalidConfig) {
		t.Fatalf("SnapshotConfig{}.Validate() = %v, want ErrInvalidConfig", err)
	}
}

func TestDataDirectory(t *testing.T) {
	storetest.RunDataDir(t, storetest.DataDir{
		Open:                  openStore,
		Marker:                "jangada storebadger v1\n",
		ErrLocked:             storebadger.ErrLocked,
		ErrIncompatibleFormat: storebadger.ErrIncompatibleFormat,
		Foreign: map[string]map[string]string{
			"pebble store": {"JANGADA_FORMAT": "jangada storepebble v1\n", "CURRENT": "MANIFEST-000001"},
		},
	})
}
