package storebadger

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Keys. Entries are keyed by "e" and their big-endian index so that key order
// is log order; the state record is one key.
const (
	entryPrefix = 'e'
	stateKey    = "s"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func entryKey(index uint64) []byte {
	return appendEntryKey(make([]byte, 0, 9), index)
}

func appendEntryKey(dst []byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, entryPrefix), index)
}

func indexOfKey(key []byte) (uint64, bool) {
	if len(key) != 9 || key[0] != entryPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}

// seal returns payload preceded by a CRC-32C of key and payload. The key is
// covered so that a record found under the wrong key is detected as well as
// a flipped bit.
func seal(key, payload []byte) []byte {
	value := make([]byte, 4, 4+len(payload))
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(value, crc)
	return append(value, payload...)
}

// unseal verifies a value written by seal and returns its payload, which
// aliases value.
func unseal(key, value []byte) ([]byte, error) {
	if len(value) < 4 {
		return nil, fmt.Errorf("%w: record %q is %d bytes long", raftcore.ErrCorrupt, key, len(value))
	}
	payload := value[4:]
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
	if binary.LittleEndian.Uint32(value) != crc {
		return nil, fmt.Errorf("%w: checksum mismatch in record %q", raftcore.ErrCorrupt, key)
	}
	return payload, nil
}

func encodeEntry(e *raftpb.Entry) ([]byte, error) {
	return appendEntryValue(nil, entryKey(e.GetIndex()), e)
}

// appendEntryValue appends the record of e, stored under key, to dst: the
// allocation-free form of seal(key, proto.Marshal(e)) for the Save path.
func appendEntryValue(dst, key []byte, e *raftpb.Entry) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, e)
	if err != nil {
		return nil, fmt.Errorf("storebadger: encoding entry %d: %w", e.GetIndex(), err)
	}
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, dst[start+4:])
	binary.LittleEndian.PutUint32(dst[start:], crc)
	return dst, nil
}

// decodeEntry returns a new Entry and its protobuf size, the measure of
// Entries' maxSize.
func decodeEntry(key, value []byte) (*raftpb.Entry, uint64, error) {
	payload, err := unseal(key, value)
	if err != nil {
		return nil, 0, err
	}
	e := new(raftpb.Entry)
	if err := proto.Unmarshal(payload, e); err != nil {
		return nil, 0, fmt.Errorf("%w: entry record %q: %v", raftcore.ErrCorrupt, key, err)
	}
	if index, _ := indexOfKey(key); e.GetIndex() != index {
		return nil, 0, fmt.Errorf("%w: entry %d stored under index %d", raftcore.ErrCorrupt, e.GetIndex(), index)
	}
	return e, uint64(len(payload)), nil
}

// logState is everything about the log except the entries: what InitialState,
// Snapshot, FirstIndex and LastIndex return and Term of the dummy entry.
type logState struct {
	hardState  *raftpb.HardState // never nil
	snapshot   *raftpb.SnapshotMetadata
	dummyIndex uint64 // FirstIndex-1: the compaction point
	dummyTerm  uint64
	lastIndex  uint64
}

func initialState() logState {
	return logState{
		hardState: &raftpb.HardState{},
		snapshot:  raftpb.EnsureSnapshotMetadata(nil),
	}
}

const stateVersion = 1

func (s logState) encode() ([]byte, error) {
	hs, err := proto.Marshal(s.hardState)
	if err != nil {
		return nil, fmt.Errorf("storebadger: encoding hard state: %w", err)
	}
	snap, err := proto.Marshal(s.snapshot)
	if err != nil {
		return nil, fmt.Errorf("storebadger: encoding snapshot metadata: %w", err)
	}
	payload := []byte{stateVersion}
	payload = binary.AppendUvarint(payload, s.dummyIndex)
	payload = binary.AppendUvarint(payload, s.dummyTerm)
	payload = binary.AppendUvarint(payload, s.lastIndex)
	payload = binary.AppendUvarint(payload, uint64(len(hs)))
	payload = append(payload, hs...)
	payload = binary.AppendUvarint(payload, uint64(len(snap)))
	payload = append(payload, snap...)
	return seal([]byte(stateKey), payload), nil
}

func decodeState(value []byte) (logState, error) {
	payload, err := unseal([]byte(stateKey), value)
	if err != nil {
		return logState{}, err
	}
	corrupt := func(what string) (logState, error) {
		return logState{}, fmt.Errorf("%w: state record: %s", raftcore.ErrCorrupt, what)
	}
	if len(payload) == 0 || payload[0] != stateVersion {
		return corrupt("unknown version")
	}
	r := payload[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	bytesField := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(r)) {
			return nil, false
		}
		b := r[:n]
		r = r[n:]
		return b, true
	}
	var s logState
	var ok1, ok2, ok3, ok4, ok5 bool
	s.dummyIndex, ok1 = uvarint()
	s.dummyTerm, ok2 = uvarint()
	s.lastIndex, ok3 = uvarint()
	hs, ok4 := bytesField()
	snap, ok5 := bytesField()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || len(r) != 0 || s.lastIndex < s.dummyIndex {
		return corrupt("malformed")
	}
	s.hardState = new(raftpb.HardState)
	if err := proto.Unmarshal(hs, s.hardState); err != nil {
		return corrupt("hard state: " + err.Error())
	}
	s.snapshot = new(raftpb.SnapshotMetadata)
	if err := proto.Unmarshal(snap, s.snapshot); err != nil {
		return corrupt("snapshot metadata: " + err.Error())
	}
	s.snapshot = raftpb.EnsureSnapshotMetadata(s.snapshot)
	return s, nil
}

// cloneConfState returns a copy of cs with every field set, leaving cs
// untouched (raftpb.EnsureConfState fills in the ConfState it is given).
func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	if cs == nil {
		return raftpb.EnsureConfState(nil)
	}
	return raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
}
