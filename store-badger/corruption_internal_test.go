package storebadger

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
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

// tamper opens the store's badger database directly and applies change in
// one transaction.
func tamper(t *testing.T, dir string, change func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(Config{Dir: dir}.withDefaults().badgerOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(change); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func TestCorruptRecordsAreReportedNotReturned(t *testing.T) {
	flipByte := func(key []byte, at int) func(txn *badger.Txn) error {
		return func(txn *badger.Txn) error {
			value, err := getValue(txn, key)
			if err != nil {
				return err
			}
			value[min(at, len(value)-1)] ^= 0x10
			return txn.Set(key, value)
		}
	}
	cases := []struct {
		name   string
		change func(txn *badger.Txn) error
		// failsOpen is set when Open itself must refuse the store; otherwise
		// reading entry 5 must fail.
		failsOpen bool
	}{
		{"flipped bit in an entry's data", flipByte(logkv.EntryKey(5), 20), false},
		{"flipped bit in an entry's checksum", flipByte(logkv.EntryKey(5), 0), false},
		{"entry stored under another index", func(txn *badger.Txn) error {
			value, err := getValue(txn, logkv.EntryKey(4))
			if err != nil {
				return err
			}
			return txn.Set(logkv.EntryKey(5), value)
		}, false},
		{"truncated entry record", func(txn *badger.Txn) error { return txn.Set(logkv.EntryKey(5), []byte{1, 2}) }, false},
		{"missing entry inside the log", func(txn *badger.Txn) error { return txn.Delete(logkv.EntryKey(5)) }, false},
		{"flipped bit in the state record", flipByte([]byte(logkv.StateKey), 6), true},
		{"flipped bit in the last entry", flipByte(logkv.EntryKey(10), 12), true},
		{"missing first entry", func(txn *badger.Txn) error { return txn.Delete(logkv.EntryKey(1)) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Dir: t.TempDir()}
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
			tamper(t, cfg.Dir, c.change)

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

// TestEntriesOutsideTheBoundsAreDeletedOnOpen leaves entries below the first
// index and beyond the last one, as a crash between a truncation or
// compaction and the deletion of what it discarded does, and checks that
// opening the store deletes them.
func TestEntriesOutsideTheBoundsAreDeletedOnOpen(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
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
	tamper(t, cfg.Dir, func(txn *badger.Txn) error {
		state := logkv.NewState()
		state.DummyIndex, state.DummyTerm, state.LastIndex = 3, 1, 7
		value, err := state.Encode()
		if err != nil {
			return err
		}
		return txn.Set([]byte(logkv.StateKey), value)
	})
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first, last := s.state.DummyIndex+1, s.state.LastIndex; first != 4 || last != 7 {
		t.Fatalf("log [%d, %d], want [4, 7]", first, last)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, cfg.Dir, func(txn *badger.Txn) error {
		for _, index := range []uint64{1, 2, 3, 8, 9, 10} {
			if _, err := txn.Get(logkv.EntryKey(index)); !errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("entry %d outside the log is still stored (%v)", index, err)
			}
		}
		return nil
	})
}
