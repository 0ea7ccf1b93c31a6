package storebadger_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
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

func TestSecondOpenOfADirectoryIsRefused(t *testing.T) {
	cfg := storebadger.Config{Dir: t.TempDir()}
	first := openTestStore(t, cfg)
	if _, err := storebadger.Open(cfg); !errors.Is(err, storebadger.ErrLocked) {
		t.Fatalf("second Open: error %v, want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := openTestStore(t, cfg).Close(); err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
}

func TestForeignDirectoryIsRefused(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{"other format version", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "JANGADA_FORMAT"), "jangada storebadger v2\n")
		}},
		{"pebble store", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "JANGADA_FORMAT"), "jangada storepebble v1\n")
			writeFile(t, filepath.Join(dir, "CURRENT"), "MANIFEST-000001")
		}},
		{"unrelated files", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "notes.txt"), "not a store")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.prepare(t, dir)
			_, err := storebadger.Open(storebadger.Config{Dir: dir})
			if !errors.Is(err, storebadger.ErrIncompatibleFormat) {
				t.Fatalf("Open: error %v, want ErrIncompatibleFormat", err)
			}
			// The refused directory is left untouched.
			if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Open created badger files in a foreign directory: %v", err)
			}
		})
	}
}

func TestInterruptedCreationIsCompletedOnOpen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "JANGADA_FORMAT"), "jangada storebadger v1\n")
	s := openTestStore(t, storebadger.Config{Dir: dir})
	if last, err := s.LastIndex(); err != nil || last != 0 {
		t.Fatalf("LastIndex = %d, %v; want 0", last, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
