package storetest

import (
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/logkv"
)

// RawKV is direct access to the database of a closed store built on logkv,
// for tests that damage it.
type RawKV interface {
	// Get returns a copy of the value of key, or nil and no error if key
	// is not stored.
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
}

// StrayEntries says what a store does with entries stored outside the
// bounds its state record gives the log, as a crash between a truncation or
// compaction and the deletion of what it discarded may leave.
type StrayEntries int

const (
	// StrayEntriesCorrupt stores never leave stray entries behind: Open
	// reports an entry beyond the last index with raftcore.ErrCorrupt.
	StrayEntriesCorrupt StrayEntries = iota
	// StrayEntriesDeleted stores delete stray entries on Open.
	StrayEntriesDeleted
)

// Corruption describes a store built on logkv for RunCorruption.
type Corruption struct {
	// Open opens the store in a directory.
	Open OpenFunc
	// Tamper opens the database of the closed store in dir directly and
	// applies change to it durably.
	Tamper func(t *testing.T, dir string, change func(RawKV) error)
	// Stray is what the store does with entries outside the log's bounds.
	Stray StrayEntries
}

// RunCorruption damages the records of a stored log of ten entries in
// various ways and checks that the store reports each damage with an error
// wrapping raftcore.ErrCorrupt, either from Open or when the damaged entry
// is read, and never returns a damaged record; entries before the damage
// stay readable. It then checks the store's treatment of stray entries.
func RunCorruption(t *testing.T, c Corruption) {
	flipByte := func(key []byte, at int) func(RawKV) error {
		return func(kv RawKV) error {
			value, err := kv.Get(key)
			if err != nil || value == nil {
				return fmt.Errorf("reading %q: %d bytes, %v", key, len(value), err)
			}
			value[min(at, len(value)-1)] ^= 0x10
			return kv.Set(key, value)
		}
	}
	cases := []corruptionCase{
		{"flipped bit in an entry's data", flipByte(logkv.EntryKey(5), 20), false},
		{"flipped bit in an entry's checksum", flipByte(logkv.EntryKey(5), 0), false},
		{"entry stored under another index", func(kv RawKV) error {
			value, err := kv.Get(logkv.EntryKey(4))
			if err != nil || value == nil {
				return fmt.Errorf("reading entry 4: %d bytes, %v", len(value), err)
			}
			return kv.Set(logkv.EntryKey(5), value)
		}, false},
		{"truncated entry record", func(kv RawKV) error { return kv.Set(logkv.EntryKey(5), []byte{1, 2}) }, false},
		{"missing entry inside the log", func(kv RawKV) error { return kv.Delete(logkv.EntryKey(5)) }, false},
		{"flipped bit in the state record", flipByte([]byte(logkv.StateKey), 6), true},
		{"flipped bit in the last entry", flipByte(logkv.EntryKey(10), 12), true},
		{"missing first entry", func(kv RawKV) error { return kv.Delete(logkv.EntryKey(1)) }, true},
	}
	if c.Stray == StrayEntriesCorrupt {
		cases = append(cases, corruptionCase{"entry beyond the last index", func(kv RawKV) error {
			value, err := logkv.EncodeEntry(corruptionEntries(11, 11)[0])
			if err != nil {
				return err
			}
			return kv.Set(logkv.EntryKey(11), value)
		}, true})
	}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			dir := c.storeTenEntries(t)
			c.Tamper(t, dir, cc.change)
			s, err := c.Open(dir)
			if cc.failsOpen {
				if !errors.Is(err, raftcore.ErrCorrupt) {
					if err == nil {
						s.Close()
					}
					t.Fatalf("Open: error %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if got, err := s.Entries(1, 11, noLimit); !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("Entries: returned %d entries and error %v, want ErrCorrupt", len(got), err)
			}
			if _, err := s.Term(5); !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("Term(5): error %v, want ErrCorrupt", err)
			}
			if got, err := s.Entries(1, 5, noLimit); err != nil || len(got) != 4 {
				t.Fatalf("Entries before the damage = %d entries, %v; want 4", len(got), err)
			}
		})
	}
	if c.Stray == StrayEntriesDeleted {
		t.Run("entries outside the bounds are deleted on open", c.testStrayEntriesDeleted)
	}
}

type corruptionCase struct {
	name   string
	change func(RawKV) error
	// failsOpen is set when Open itself must refuse the store; otherwise
	// reading entry 5 must fail.
	failsOpen bool
}

// storeTenEntries stores entries 1 to 10 in a new store and closes it.
func (c Corruption) storeTenEntries(t *testing.T) (dir string) {
	dir = t.TempDir()
	s, err := c.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(nil, corruptionEntries(1, 10), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testStrayEntriesDeleted leaves entries below the first index and beyond
// the last one and checks that opening the store deletes them.
func (c Corruption) testStrayEntriesDeleted(t *testing.T) {
	dir := c.storeTenEntries(t)
	c.Tamper(t, dir, func(kv RawKV) error {
		state := logkv.NewState()
		state.DummyIndex, state.DummyTerm, state.LastIndex = 3, 1, 7
		value, err := state.Encode()
		if err != nil {
			return err
		}
		return kv.Set([]byte(logkv.StateKey), value)
	})
	s, err := c.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err1 := s.FirstIndex()
	last, err2 := s.LastIndex()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if first != 4 || last != 7 || err1 != nil || err2 != nil {
		t.Fatalf("log [%d, %d] (%v, %v), want [4, 7]", first, last, err1, err2)
	}
	c.Tamper(t, dir, func(kv RawKV) error {
		for _, index := range []uint64{1, 2, 3, 8, 9, 10} {
			if value, err := kv.Get(logkv.EntryKey(index)); value != nil || err != nil {
				return fmt.Errorf("entry %d outside the log is still stored (%d bytes, %v)", index, len(value), err)
			}
		}
		return nil
	})
}

func corruptionEntries(lo, hi uint64) []*raftpb.Entry {
	var entries []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		entries = append(entries, &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Type: new(raftpb.EntryNormal), Data: fmt.Appendf(nil, "entry %d", i)})
	}
	return entries
}
