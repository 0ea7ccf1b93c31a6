// Package raftwire encodes and decodes etcd raft's Message and Entry in their
// protobuf wire format, byte for byte what google.golang.org/protobuf
// produces, without its reflection and with far fewer allocations: a decoded
// message takes one allocation for itself and its scalar fields, one for all
// its entries and their scalar fields, and one for all their data.
//
// raftpb's messages are proto2 with a pointer per optional field, so the
// generic decoder allocates every uint64 of every entry on its own; on the
// replication path of a busy cluster that is most of the garbage. This
// package covers the fields raft sends between nodes and writes to logs. For
// anything else — a snapshot in a message, nested responses, unknown fields,
// enum values this raft does not know, malformed input — it hands the whole
// message to the protobuf library, so its results (and errors) are always
// exactly the library's.
package raftwire

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Field numbers of raftpb.Entry.
const (
	entryType  = 1
	entryTerm  = 2
	entryIndex = 3
	entryData  = 4
)

// Field numbers of raftpb.Message.
const (
	msgType       = 1
	msgTo         = 2
	msgFrom       = 3
	msgTerm       = 4
	msgLogTerm    = 5
	msgIndex      = 6
	msgEntries    = 7
	msgCommit     = 8
	msgSnapshot   = 9
	msgReject     = 10
	msgRejectHint = 11
	msgContext    = 12
	msgVote       = 13
	msgResponses  = 14
)

// The largest enum values this raft knows. A message with a larger one (a
// newer raft's, or damage) is left to the protobuf library, whose handling
// of enum values out of range (truncation to int32, for one) is then the
// rule.
var (
	maxMessageType = maxEnum(raftpb.MessageType_name)
	maxEntryType   = maxEnum(raftpb.EntryType_name)
)

func maxEnum(names map[int32]string) uint64 {
	var m int32
	for v := range names {
		m = max(m, v)
	}
	return uint64(m)
}

// --- Entry -------------------------------------------------------------------

// SizeEntry returns the encoded size of e: proto.Size(e).
func SizeEntry(e *raftpb.Entry) int {
	if hasUnknown(e) {
		return proto.Size(e)
	}
	return sizeEntry(e)
}

func sizeEntry(e *raftpb.Entry) int {
	n := 0
	if e.Type != nil {
		n += 1 + protowire.SizeVarint(uint64(*e.Type))
	}
	if e.Term != nil {
		n += 1 + protowire.SizeVarint(*e.Term)
	}
	if e.Index != nil {
		n += 1 + protowire.SizeVarint(*e.Index)
	}
	if e.Data != nil {
		n += 1 + protowire.SizeBytes(len(e.Data))
	}
	return n
}

// AppendEntry appends the encoding of e to dst: the bytes proto.Marshal
// returns.
func AppendEntry(dst []byte, e *raftpb.Entry) ([]byte, error) {
	if hasUnknown(e) {
		return proto.MarshalOptions{}.MarshalAppend(dst, e)
	}
	return appendEntry(dst, e), nil
}

func appendEntry(dst []byte, e *raftpb.Entry) []byte {
	if e.Type != nil {
		dst = append(dst, entryType<<3|byte(protowire.VarintType))
		dst = protowire.AppendVarint(dst, uint64(*e.Type))
	}
	if e.Term != nil {
		dst = append(dst, entryTerm<<3|byte(protowire.VarintType))
		dst = protowire.AppendVarint(dst, *e.Term)
	}
	if e.Index != nil {
		dst = append(dst, entryIndex<<3|byte(protowire.VarintType))
		dst = protowire.AppendVarint(dst, *e.Index)
	}
	if e.Data != nil {
		dst = append(dst, entryData<<3|byte(protowire.BytesType))
		dst = protowire.AppendBytes(dst, e.Data)
	}
	return dst
}

// UnmarshalEntry decodes b into a new Entry, as proto.Unmarshal would. The
// entry does not alias b.
func UnmarshalEntry(b []byte) (*raftpb.Entry, error) {
	blk := new(entryBlock)
	if !blk.decode(b, nil) {
		e := new(raftpb.Entry)
		if err := proto.Unmarshal(b, e); err != nil {
			return nil, fmt.Errorf("raftwire: %w", err)
		}
		return e, nil
	}
	return &blk.e, nil
}

// entryBlock is an Entry with room for its optional scalars, so that
// decoding allocates them together.
type entryBlock struct {
	e     raftpb.Entry
	term  uint64
	index uint64
	typ   raftpb.EntryType
}

// decode fills blk from b, the Entry's data copied into slab (which must
// have room for it) or, with a nil slab, into a new slice. It reports false
// for anything it does not handle; blk is then garbage.
func (blk *entryBlock) decode(b []byte, slab *[]byte) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && num <= entryIndex:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			switch num {
			case entryType:
				if v > maxEntryType {
					return false
				}
				blk.typ = raftpb.EntryType(v)
				blk.e.Type = &blk.typ
			case entryTerm:
				blk.term = v
				blk.e.Term = &blk.term
			case entryIndex:
				blk.index = v
				blk.e.Index = &blk.index
			default:
				return false
			}
		case typ == protowire.BytesType && num == entryData:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			blk.e.Data = copyBytes(v, slab)
		default:
			return false
		}
	}
	return true
}

// empty is the data of a present, empty bytes field: non-nil, like the
// protobuf library's, and without capacity, so an append never writes to it.
var empty = make([]byte, 0)

// copyBytes returns a copy of v: carved from the front of *slab when slab
// is given (with its capacity capped, so appending to one entry's data never
// overwrites the next), else newly allocated.
func copyBytes(v []byte, slab *[]byte) []byte {
	if len(v) == 0 {
		return empty
	}
	if slab == nil || len(*slab) < len(v) {
		return append([]byte(nil), v...)
	}
	s := *slab
	n := copy(s, v)
	*slab = s[n:]
	return s[:n:n]
}

// --- Message -----------------------------------------------------------------

// SizeMessage returns the encoded size of m: proto.Size(m).
func SizeMessage(m *raftpb.Message) int {
	if !simple(m) {
		return proto.Size(m)
	}
	n := 0
	if m.Type != nil {
		n += 1 + protowire.SizeVarint(uint64(*m.Type))
	}
	n += sizeOptUint(m.To) + sizeOptUint(m.From) + sizeOptUint(m.Term) + sizeOptUint(m.LogTerm) + sizeOptUint(m.Index)
	for _, e := range m.Entries {
		n += 1 + protowire.SizeBytes(sizeEntry(e))
	}
	n += sizeOptUint(m.Commit)
	if m.Reject != nil {
		n += 2
	}
	n += sizeOptUint(m.RejectHint)
	if m.Context != nil {
		n += 1 + protowire.SizeBytes(len(m.Context))
	}
	n += sizeOptUint(m.Vote)
	return n
}

func sizeOptUint(v *uint64) int {
	if v == nil {
		return 0
	}
	return 1 + protowire.SizeVarint(*v)
}

// AppendMessage appends the encoding of m to dst: the bytes proto.Marshal
// returns.
func AppendMessage(dst []byte, m *raftpb.Message) ([]byte, error) {
	if !simple(m) {
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	if m.Type != nil {
		dst = append(dst, msgType<<3|byte(protowire.VarintType))
		dst = protowire.AppendVarint(dst, uint64(*m.Type))
	}
	dst = appendOptUint(dst, msgTo, m.To)
	dst = appendOptUint(dst, msgFrom, m.From)
	dst = appendOptUint(dst, msgTerm, m.Term)
	dst = appendOptUint(dst, msgLogTerm, m.LogTerm)
	dst = appendOptUint(dst, msgIndex, m.Index)
	for _, e := range m.Entries {
		dst = append(dst, msgEntries<<3|byte(protowire.BytesType))
		dst = protowire.AppendVarint(dst, uint64(sizeEntry(e)))
		dst = appendEntry(dst, e)
	}
	dst = appendOptUint(dst, msgCommit, m.Commit)
	if m.Reject != nil {
		dst = append(dst, msgReject<<3|byte(protowire.VarintType))
		dst = protowire.AppendVarint(dst, protowire.EncodeBool(*m.Reject))
	}
	dst = appendOptUint(dst, msgRejectHint, m.RejectHint)
	if m.Context != nil {
		dst = append(dst, msgContext<<3|byte(protowire.BytesType))
		dst = protowire.AppendBytes(dst, m.Context)
	}
	dst = appendOptUint(dst, msgVote, m.Vote)
	return dst, nil
}

func appendOptUint(dst []byte, num byte, v *uint64) []byte {
	if v == nil {
		return dst
	}
	dst = append(dst, num<<3|byte(protowire.VarintType))
	return protowire.AppendVarint(dst, *v)
}

// simple reports whether m has only the fields this package encodes itself:
// no snapshot, no responses, no unknown fields in it or its entries.
func simple(m *raftpb.Message) bool {
	if m.Snapshot != nil || len(m.Responses) > 0 || hasUnknown(m) {
		return false
	}
	for _, e := range m.Entries {
		if hasUnknown(e) {
			return false
		}
	}
	return true
}

func hasUnknown(m proto.Message) bool {
	return len(m.ProtoReflect().GetUnknown()) > 0
}

// messageBlock is a Message with room for its optional scalars.
type messageBlock struct {
	m          raftpb.Message
	typ        raftpb.MessageType
	to         uint64
	from       uint64
	term       uint64
	logTerm    uint64
	index      uint64
	commit     uint64
	vote       uint64
	rejectHint uint64
	reject     bool
}

// UnmarshalMessage decodes b into a new Message, as proto.Unmarshal would
// (the same message or the same error). The message does not alias b.
func UnmarshalMessage(b []byte) (*raftpb.Message, error) {
	if m, ok := decodeMessage(b); ok {
		return m, nil
	}
	m := new(raftpb.Message)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("raftwire: %w", err)
	}
	return m, nil
}

// decodeMessage reads b twice: the first pass decodes the scalars and
// counts the entries and their bytes, so that the second allocates all the
// entries, and all their data, at once.
func decodeMessage(b []byte) (*raftpb.Message, bool) {
	blk := new(messageBlock)
	entries, dataSize := 0, 0
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, false
		}
		rest = rest[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(rest)
			if n < 0 || !blk.set(num, v) {
				return nil, false
			}
			rest = rest[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(rest)
			if n < 0 {
				return nil, false
			}
			rest = rest[n:]
			switch num {
			case msgEntries:
				entries++
				// An upper bound of the entry's data: all of its bytes.
				dataSize += len(v)
			case msgContext:
				blk.m.Context = copyBytes(v, nil)
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	if entries == 0 {
		return &blk.m, true
	}
	blocks := make([]entryBlock, entries)
	slab := make([]byte, dataSize)
	blk.m.Entries = make([]*raftpb.Entry, 0, entries)
	for len(b) > 0 {
		// The first pass validated every tag and length.
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if num == msgEntries {
			v, _ := protowire.ConsumeBytes(b)
			i := len(blk.m.Entries)
			if !blocks[i].decode(v, &slab) {
				return nil, false
			}
			blk.m.Entries = append(blk.m.Entries, &blocks[i].e)
		}
		b = b[n:]
	}
	return &blk.m, true
}

// set stores the varint field num of a message.
func (blk *messageBlock) set(num protowire.Number, v uint64) bool {
	switch num {
	case msgType:
		if v > maxMessageType {
			return false
		}
		blk.typ = raftpb.MessageType(v)
		blk.m.Type = &blk.typ
	case msgTo:
		blk.to = v
		blk.m.To = &blk.to
	case msgFrom:
		blk.from = v
		blk.m.From = &blk.from
	case msgTerm:
		blk.term = v
		blk.m.Term = &blk.term
	case msgLogTerm:
		blk.logTerm = v
		blk.m.LogTerm = &blk.logTerm
	case msgIndex:
		blk.index = v
		blk.m.Index = &blk.index
	case msgCommit:
		blk.commit = v
		blk.m.Commit = &blk.commit
	case msgReject:
		blk.reject = protowire.DecodeBool(v)
		blk.m.Reject = &blk.reject
	case msgRejectHint:
		blk.rejectHint = v
		blk.m.RejectHint = &blk.rejectHint
	case msgVote:
		blk.vote = v
		blk.m.Vote = &blk.vote
	default:
		return false
	}
	return true
}
