package logkv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The golden records were written by the stores before this package held
// the format. Data directories hold such bytes: they must decode, and the
// same values must encode to them.
const (
	goldenEntryKey   = "650000000000000007"
	goldenEntry      = "10e3f1800801100318072206676f6c64656e"
	goldenState      = "c200b37e010402ac02060805100218090e0a08080108020803100410041802"
	goldenEmptyState = "239a97830100000000080a02280010001800"
)

func goldenEntryValue() *raftpb.Entry {
	return &raftpb.Entry{Index: new(uint64(7)), Term: new(uint64(3)), Type: new(raftpb.EntryConfChange), Data: []byte("golden")}
}

func goldenStateValue() State {
	return State{
		HardState:  &raftpb.HardState{Term: new(uint64(5)), Vote: new(uint64(2)), Commit: new(uint64(9))},
		Snapshot:   &raftpb.SnapshotMetadata{Index: new(uint64(4)), Term: new(uint64(2)), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
		DummyIndex: 4,
		DummyTerm:  2,
		LastIndex:  300,
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEntryRecordMatchesTheStoredFormat(t *testing.T) {
	if got := hex.EncodeToString(EntryKey(7)); got != goldenEntryKey {
		t.Fatalf("EntryKey(7) = %s, want %s", got, goldenEntryKey)
	}
	record, err := EncodeEntry(goldenEntryValue())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(record); got != goldenEntry {
		t.Fatalf("EncodeEntry = %s, want %s", got, goldenEntry)
	}
	e, size, err := DecodeEntry(unhex(t, goldenEntryKey), unhex(t, goldenEntry))
	if err != nil {
		t.Fatalf("DecodeEntry of the golden record: %v", err)
	}
	if !proto.Equal(e, goldenEntryValue()) {
		t.Fatalf("DecodeEntry = %v, want %v", e, goldenEntryValue())
	}
	if want := uint64(proto.Size(goldenEntryValue())); size != want {
		t.Fatalf("DecodeEntry size %d, want %d", size, want)
	}
}

func TestStateRecordMatchesTheStoredFormat(t *testing.T) {
	cases := []struct {
		name   string
		state  State
		golden string
	}{
		{"empty log", NewState(), goldenEmptyState},
		{"compacted log with a snapshot", goldenStateValue(), goldenState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			record, err := c.state.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(record); got != c.golden {
				t.Fatalf("Encode = %s, want %s", got, c.golden)
			}
			s, err := DecodeState(unhex(t, c.golden))
			if err != nil {
				t.Fatalf("DecodeState of the golden record: %v", err)
			}
			checkStateEqual(t, s, c.state)
		})
	}
}

func checkStateEqual(t *testing.T, got, want State) {
	t.Helper()
	want.Snapshot = raftpb.EnsureSnapshotMetadata(proto.Clone(want.Snapshot).(*raftpb.SnapshotMetadata))
	if !proto.Equal(got.HardState, want.HardState) || !proto.Equal(got.Snapshot, want.Snapshot) ||
		got.DummyIndex != want.DummyIndex || got.DummyTerm != want.DummyTerm || got.LastIndex != want.LastIndex {
		t.Fatalf("state %+v, want %+v", got, want)
	}
}

func TestEntryKeysSortInLogOrder(t *testing.T) {
	indexes := []uint64{0, 1, 255, 256, 1 << 32, ^uint64(0) - 1, ^uint64(0)}
	for i, index := range indexes {
		key := EntryKey(index)
		if got, ok := IndexOfKey(key); !ok || got != index {
			t.Fatalf("IndexOfKey(EntryKey(%d)) = %d, %v", index, got, ok)
		}
		if !bytes.Equal(AppendEntryKey([]byte("x"), index)[1:], key) {
			t.Fatalf("AppendEntryKey(%d) differs from EntryKey", index)
		}
		if bytes.Compare(key, []byte{EntryPrefix + 1}) >= 0 || bytes.Equal(key, []byte(StateKey)) {
			t.Fatalf("EntryKey(%d) = %x lies outside the entry range", index, key)
		}
		if i > 0 && bytes.Compare(EntryKey(indexes[i-1]), key) >= 0 {
			t.Fatalf("EntryKey(%d) does not sort before EntryKey(%d)", indexes[i-1], index)
		}
	}
	for _, key := range [][]byte{nil, []byte(StateKey), EntryKey(1)[:8], append(EntryKey(1), 0), {'f', 0, 0, 0, 0, 0, 0, 0, 1}} {
		if _, ok := IndexOfKey(key); ok {
			t.Fatalf("IndexOfKey(%x) accepted a key that is not an entry key", key)
		}
	}
}

func TestAppendEntryRecordSharesOneBuffer(t *testing.T) {
	entries := []*raftpb.Entry{goldenEntryValue(), {Index: new(uint64(8)), Term: new(uint64(3)), Data: []byte("next")}}
	var buf []byte
	for _, e := range entries {
		key := AppendEntryKey(buf[:0], e.GetIndex())
		record, err := AppendEntryRecord(key, key, e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := EncodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(record[len(key):], want) {
			t.Fatalf("entry %d: record %x, want %x", e.GetIndex(), record[len(key):], want)
		}
		buf = record
	}
}

func TestDamagedRecordsAreCorrupt(t *testing.T) {
	entry := unhex(t, goldenEntry)
	state := unhex(t, goldenState)
	other, err := EncodeEntry(&raftpb.Entry{Index: new(uint64(8)), Term: new(uint64(3))})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 0x10
		return b
	}
	// reseal gives a damaged payload a valid checksum, so that the checks
	// behind the checksum are reached.
	reseal := func(key string, payload []byte) []byte { return seal([]byte(key), payload) }
	entryCases := []struct {
		name       string
		key, value []byte
	}{
		{"flipped bit in the data", EntryKey(7), flip(entry, len(entry)-1)},
		{"flipped bit in the checksum", EntryKey(7), flip(entry, 0)},
		{"record under another index", EntryKey(7), other},
		{"record of another index with a valid checksum", EntryKey(7), reseal(string(EntryKey(7)), other[4:])},
		{"truncated record", EntryKey(7), entry[:2]},
		{"empty record", EntryKey(7), nil},
		{"payload that is not protobuf", EntryKey(7), reseal(string(EntryKey(7)), []byte{0xff, 0xff})},
	}
	for _, c := range entryCases {
		if e, _, err := DecodeEntry(c.key, c.value); !errors.Is(err, raftcore.ErrCorrupt) {
			t.Errorf("DecodeEntry with %s: %v, %v; want ErrCorrupt", c.name, e, err)
		}
	}
	stateCases := []struct {
		name  string
		value []byte
	}{
		{"flipped bit in the payload", flip(state, 6)},
		{"flipped bit in the checksum", flip(state, 1)},
		{"truncated record", state[:3]},
		{"entry record", entry},
		{"unknown version", reseal(StateKey, append([]byte{2}, state[5:]...))},
		{"empty payload", reseal(StateKey, nil)},
		{"trailing bytes", reseal(StateKey, append(bytes.Clone(state[4:]), 0))},
		{"truncated payload", reseal(StateKey, state[4:len(state)-1])},
		{"last index below the compaction point", reseal(StateKey, []byte{1, 5, 1, 4, 0, 0})},
		{"field length beyond the record", reseal(StateKey, []byte{1, 0, 0, 0, 9, 0})},
		{"hard state that is not protobuf", reseal(StateKey, []byte{1, 0, 0, 0, 2, 0xff, 0xff, 0})},
	}
	for _, c := range stateCases {
		if _, err := DecodeState(c.value); !errors.Is(err, raftcore.ErrCorrupt) {
			t.Errorf("DecodeState with %s: %v; want ErrCorrupt", c.name, err)
		}
	}
}

func TestStateRoundTripsAndConfStateIsACopy(t *testing.T) {
	s := goldenStateValue()
	record, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeState(record)
	if err != nil {
		t.Fatal(err)
	}
	checkStateEqual(t, got, s)
	cs := got.ConfState()
	cs.Voters[0] = 99
	if got.Snapshot.GetConfState().GetVoters()[0] != 1 {
		t.Fatal("changing the returned ConfState changed the state")
	}
	if cs := NewState().ConfState(); cs.Voters == nil && cs.Learners == nil && cs.AutoLeave == nil {
		t.Fatal("ConfState of an empty log has fields unset")
	}
	if cs := (State{Snapshot: &raftpb.SnapshotMetadata{}}).ConfState(); cs == nil || cs.AutoLeave == nil {
		t.Fatal("ConfState without a snapshot ConfState is not filled in")
	}
}
