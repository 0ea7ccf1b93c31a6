package storepebble

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

func testEntries(lo, hi, term uint64) []*raftpb.Entry {
	var entries []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		entries = append(entries, &raftpb.Entry{Index: new(i), Term: new(term), Type: new(raftpb.EntryNormal), Data: fmt.Appendf(nil, "entry %d", i)})
	}
	return entries
}

// tamper opens the store's pebble database directly and applies change.
func tamper(t *testing.T, fs vfs.FS, dir string, change func(db *pebble.DB) error) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		t.Fatal(err)
	}
	if err := change(db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func getValue(db *pebble.DB, key []byte) ([]byte, error) {
	value, closer, err := db.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), value...), nil
}

func TestCorruptRecordsAreReportedNotReturned(t *testing.T) {
	flipByte := func(key []byte, at int) func(db *pebble.DB) error {
		return func(db *pebble.DB) error {
			value, err := getValue(db, key)
			if err != nil {
				return err
			}
			value[min(at, len(value)-1)] ^= 0x10
			return db.Set(key, value, pebble.Sync)
		}
	}
	cases := []struct {
		name   string
		change func(db *pebble.DB) error
		// failsOpen is set when Open itself must refuse the store; otherwise
		// reading entry 5 must fail.
		failsOpen bool
	}{
		{"flipped bit in an entry's data", flipByte(logkv.EntryKey(5), 20), false},
		{"flipped bit in an entry's checksum", flipByte(logkv.EntryKey(5), 0), false},
		{"entry stored under another index", func(db *pebble.DB) error {
			value, err := getValue(db, logkv.EntryKey(4))
			if err != nil {
				return err
			}
			return db.Set(logkv.EntryKey(5), value, pebble.Sync)
		}, false},
		{"truncated entry record", func(db *pebble.DB) error { return db.Set(logkv.EntryKey(5), []byte{1, 2}, pebble.Sync) }, false},
		{"missing entry inside the log", func(db *pebble.DB) error { return db.Delete(logkv.EntryKey(5), pebble.Sync) }, false},
		{"flipped bit in the state record", flipByte([]byte(logkv.StateKey), 6), true},
		{"flipped bit in the last entry", flipByte(logkv.EntryKey(10), 12), true},
		{"entry beyond the last index", func(db *pebble.DB) error {
			value, err := logkv.EncodeEntry(testEntries(11, 11, 1)[0])
			if err != nil {
				return err
			}
			return db.Set(logkv.EntryKey(11), value, pebble.Sync)
		}, true},
		{"missing first entry", func(db *pebble.DB) error { return db.Delete(logkv.EntryKey(1), pebble.Sync) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := vfs.NewMem()
			cfg := Config{Dir: "/data", FS: fs}
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(nil, testEntries(1, 10, 1), nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tamper(t, fs, cfg.Dir, c.change)

			s, err = Open(cfg)
			if c.failsOpen {
				if !errors.Is(err, raftcore.ErrCorrupt) {
					t.Fatalf("Open: error %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if got, err := s.Entries(1, 11, ^uint64(0)); !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("Entries: returned %d entries and error %v, want ErrCorrupt", len(got), err)
			}
			if _, err := s.Term(5); !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("Term(5): error %v, want ErrCorrupt", err)
			}
			if got, err := s.Entries(1, 5, ^uint64(0)); err != nil || len(got) != 4 {
				t.Fatalf("Entries before the damage = %d entries, %v; want 4", len(got), err)
			}
		})
	}
}
