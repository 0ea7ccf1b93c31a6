package logkv

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/raftwire"
)

// Keys. Entries are keyed by EntryPrefix and their big-endian index so that
// key order is log order; the state record is one key. Every entry key lies
// in [EntryKey(0), []byte{EntryPrefix + 1}).
const (
	EntryPrefix = 'e'
	StateKey    = "s"
)

// entryKeyLen is the length of an entry key: the prefix and the index.
const entryKeyLen = 9

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EntryKey returns the key of the entry at index.
func EntryKey(index uint64) []byte {
	return AppendEntryKey(make([]byte, 0, entryKeyLen), index)
}

// AppendEntryKey appends the key of the entry at index to dst.
func AppendEntryKey(dst []byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, EntryPrefix), index)
}

// IndexOfKey returns the index an entry key names; ok is false if key is not
// an entry key.
func IndexOfKey(key []byte) (index uint64, ok bool) {
	if len(key) != entryKeyLen || key[0] != EntryPrefix {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}

// seal returns payload preceded by a CRC-32C of key and payload. The key is
// covered so that a record found under the wrong key is detected as well as
// a flipped bit.
func seal(key, payload []byte) []byte {
	value := make([]byte, 4, 4+len(payload))
	binary.LittleEndian.PutUint32(value, checksum(key, payload))
	return append(value, payload...)
}

// unseal verifies a value written by seal and returns its payload, which
// aliases value.
func unseal(key, value []byte) ([]byte, error) {
	if len(value) < 4 {
		return nil, fmt.Errorf("%w: record %q is %d bytes long", raftcore.ErrCorrupt, key, len(value))
	}
	payload := value[4:]
	if binary.LittleEndian.Uint32(value) != checksum(key, payload) {
		return nil, fmt.Errorf("%w: checksum mismatch in record %q", raftcore.ErrCorrupt, key)
	}
	return payload, nil
}

func checksum(key, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
}

// EncodeEntry returns the record of e, stored under EntryKey(e.GetIndex()).
func EncodeEntry(e *raftpb.Entry) ([]byte, error) {
	return AppendEntryRecord(nil, EntryKey(e.GetIndex()), e)
}

// AppendEntryRecord appends the record of e, stored under key, to dst and
// returns the extended buffer. It allocates nothing when dst has room, so
// that one buffer can serve every entry of a Save; key may alias dst.
func AppendEntryRecord(dst, key []byte, e *raftpb.Entry) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst, err := raftwire.AppendEntry(dst, e)
	if err != nil {
		return nil, fmt.Errorf("logkv: encoding entry %d: %w", e.GetIndex(), err)
	}
	binary.LittleEndian.PutUint32(dst[start:], checksum(key, dst[start+4:]))
	return dst, nil
}

// DecodeEntry verifies the record value stored under key and returns a new
// Entry and its protobuf size, the measure of raft.Storage's maxSize. A
// record that fails its checksum, does not parse or holds an entry of
// another index returns an error wrapping raftcore.ErrCorrupt.
func DecodeEntry(key, value []byte) (e *raftpb.Entry, size uint64, err error) {
	payload, err := unseal(key, value)
	if err != nil {
		return nil, 0, err
	}
	e, err = raftwire.UnmarshalEntry(payload)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: entry record %q: %v", raftcore.ErrCorrupt, key, err)
	}
	if index, _ := IndexOfKey(key); e.GetIndex() != index {
		return nil, 0, fmt.Errorf("%w: entry %d stored under index %d", raftcore.ErrCorrupt, e.GetIndex(), index)
	}
	return e, uint64(len(payload)), nil
}
