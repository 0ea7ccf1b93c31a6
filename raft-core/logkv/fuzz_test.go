package logkv

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// FuzzDecodeEntry feeds arbitrary keys and values to DecodeEntry: it must
// never panic, fail only with ErrCorrupt, and return only an entry whose
// record it would write under that key.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(unhex(f, goldenEntryKey), unhex(f, goldenEntry))
	f.Add(EntryKey(1), []byte{})
	f.Add([]byte(StateKey), unhex(f, goldenState))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		e, size, err := DecodeEntry(key, value)
		if err != nil {
			if !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if index, _ := IndexOfKey(key); e.GetIndex() != index {
			t.Fatalf("entry %d decoded from key %x", e.GetIndex(), key)
		}
		if size != uint64(len(value)-4) {
			t.Fatalf("size %d of a %d-byte record", size, len(value))
		}
	})
}

// FuzzDecodeState feeds arbitrary values to DecodeState: it must never
// panic, fail only with ErrCorrupt, and return only a consistent state that
// encodes to a record that decodes to it again.
func FuzzDecodeState(f *testing.F) {
	f.Add(unhex(f, goldenState))
	f.Add(unhex(f, goldenEmptyState))
	f.Add(unhex(f, goldenEntry))
	f.Add(seal([]byte(StateKey), []byte{1, 0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, value []byte) {
		s, err := DecodeState(value)
		if err != nil {
			if !errors.Is(err, raftcore.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if s.HardState == nil || s.Snapshot == nil || s.LastIndex < s.DummyIndex {
			t.Fatalf("inconsistent state %+v", s)
		}
		_ = s.ConfState()
		record, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeState(record)
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if !proto.Equal(again.HardState, s.HardState) || !proto.Equal(again.Snapshot, s.Snapshot) ||
			again.DummyIndex != s.DummyIndex || again.DummyTerm != s.DummyTerm || again.LastIndex != s.LastIndex {
			t.Fatalf("state %+v re-decoded as %+v", s, again)
		}
	})
}
