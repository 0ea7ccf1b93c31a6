package storewal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// A record: crc32c | length | segment sequence | payload | zero padding to
// recordAlign. The checksum covers length, sequence and payload; the
// sequence ties the record to its segment, so that what a reused segment
// held before never reads as one of its records.
const (
	headerSize  = 16
	recordAlign = 8

	kindBatch byte = 1 // a Save, SetSnapshot or Compact
	kindSeal  byte = 2 // the end of a full segment

	opSet    byte = 1 // key, value
	opDelete byte = 2 // key (written only by tests that damage a store)

	// sealSize is the size of a seal record, kept free in every segment.
	sealSize = headerSize + recordAlign
	// maxRecord bounds one record; a Save beyond it is refused.
	maxRecord = maxSegmentSize - sealSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func align(n int) int { return (n + recordAlign - 1) &^ (recordAlign - 1) }

// segmentName is the file name of the segment with sequence seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%016x.wal", seq) }

func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".wal")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(hex, 16, 64)
	return seq, err == nil && seq > 0
}

func spareName(seq uint64) string { return "spare-" + segmentName(seq) }

func isSpareName(name string) bool {
	seq, ok := strings.CutPrefix(name, "spare-")
	if !ok {
		return false
	}
	_, ok = parseSegmentName(seq)
	return ok
}

// recordBuilder builds one batch record in a reused buffer.
type recordBuilder struct{ buf []byte }

func (b *recordBuilder) reset() {
	b.buf = append(b.buf[:0], make([]byte, headerSize)...)
	b.buf = append(b.buf, kindBatch)
}

// set adds a key and its value; value is appended by fill, which gets the
// buffer and returns it extended (so that records are encoded in place).
func (b *recordBuilder) set(key []byte, fill func(dst []byte) ([]byte, error)) error {
	b.buf = append(b.buf, opSet)
	b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(len(key)))
	lenAt := len(b.buf)
	b.buf = append(b.buf, 0, 0, 0, 0)
	b.buf = append(b.buf, key...)
	start := len(b.buf)
	out, err := fill(b.buf)
	if err != nil {
		return err
	}
	b.buf = out
	binary.LittleEndian.PutUint32(b.buf[lenAt:], uint32(len(b.buf)-start))
	return nil
}

func (b *recordBuilder) delete(key []byte) {
	b.buf = append(b.buf, opDelete)
	b.buf = binary.LittleEndian.AppendUint16(b.buf, uint16(len(key)))
	b.buf = append(b.buf, key...)
}

// finish pads the record and writes its header for segment seq; it returns
// the record's bytes.
func (b *recordBuilder) finish(seq uint64) []byte {
	payload := len(b.buf) - headerSize
	b.buf = append(b.buf, make([]byte, align(len(b.buf))-len(b.buf))...)
	sealRecord(b.buf, payload, seq)
	return b.buf
}

// sealRecord writes the header of the record in rec: payload bytes follow
// the header.
func sealRecord(rec []byte, payload int, seq uint64) {
	binary.LittleEndian.PutUint32(rec[4:], uint32(payload))
	binary.LittleEndian.PutUint64(rec[8:], seq)
	binary.LittleEndian.PutUint32(rec[0:], crc32.Checksum(rec[4:headerSize+payload], castagnoli))
}

// sealBytes is the seal record of segment seq.
func sealBytes(seq uint64) []byte {
	rec := make([]byte, sealSize)
	rec[headerSize] = kindSeal
	sealRecord(rec, 1, seq)
	return rec
}

// parseRecord returns the payload of the record at off in data, a segment
// with sequence seq, and the offset of the next record; ok is false where
// no intact record of this segment starts.
func parseRecord(data []byte, off int, seq uint64) (payload []byte, next int, ok bool) {
	if off < 0 || off+headerSize > len(data) {
		return nil, 0, false
	}
	n := int(binary.LittleEndian.Uint32(data[off+4:]))
	if n == 0 || n > len(data)-off-headerSize || binary.LittleEndian.Uint64(data[off+8:]) != seq {
		return nil, 0, false
	}
	if crc32.Checksum(data[off+4:off+headerSize+n], castagnoli) != binary.LittleEndian.Uint32(data[off:]) {
		return nil, 0, false
	}
	return data[off+headerSize : off+headerSize+n], off + align(headerSize+n), true
}

// op is one operation of a batch; valueOff is the value's offset in the
// payload.
type op struct {
	kind     byte
	key      []byte
	value    []byte
	valueOff int
}

// forEachOp calls fn for each operation of a batch payload (after its kind
// byte). A payload that does not parse is corrupt: its checksum matched, so
// it was written that way.
func forEachOp(payload []byte, fn func(op) error) error {
	p := 1
	for p < len(payload) {
		var o op
		o.kind = payload[p]
		p++
		if p+2 > len(payload) {
			return fmt.Errorf("%w: storewal: truncated operation in a record", raftcore.ErrCorrupt)
		}
		klen := int(binary.LittleEndian.Uint16(payload[p:]))
		p += 2
		vlen := 0
		switch o.kind {
		case opSet:
			if p+4 > len(payload) {
				return fmt.Errorf("%w: storewal: truncated operation in a record", raftcore.ErrCorrupt)
			}
			vlen = int(binary.LittleEndian.Uint32(payload[p:]))
			p += 4
		case opDelete:
		default:
			return fmt.Errorf("%w: storewal: unknown operation %d in a record", raftcore.ErrCorrupt, o.kind)
		}
		if klen > len(payload)-p || vlen > len(payload)-p-klen {
			return fmt.Errorf("%w: storewal: operation runs past its record", raftcore.ErrCorrupt)
		}
		o.key = payload[p : p+klen]
		p += klen
		o.valueOff = p
		o.value = payload[p : p+vlen]
		p += vlen
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}
