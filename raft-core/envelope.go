package raftcore

import (
	"encoding/binary"
	"fmt"
)

// Every normal entry and every conf change context the engine writes starts
// with an envelope: a version byte, the proposing node's id and the
// proposal's id (its epoch and sequence, see dedup.go). The proposer
// recognises its own entries by them when it applies them and hands the
// result to the waiting caller; every node skips copies by them.
//
// Version 1 carried a single id, remembered in a window of recent ids;
// version 2 came with proposal epochs. Version 1 entries are refused as
// corrupt: no release wrote them.
const envelopeVersion = 2

func appendEnvelope(dst []byte, origin uint64, id proposalID, payload []byte) []byte {
	dst = append(dst, envelopeVersion)
	dst = binary.AppendUvarint(dst, origin)
	dst = binary.AppendUvarint(dst, id.epoch)
	dst = binary.AppendUvarint(dst, id.seq)
	return append(dst, payload...)
}

func envelopeSize(origin uint64, id proposalID, payload int) int {
	return 1 + uvarintLen(origin) + uvarintLen(id.epoch) + uvarintLen(id.seq) + payload
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func parseEnvelope(data []byte) (origin uint64, id proposalID, payload []byte, err error) {
	if len(data) == 0 || data[0] != envelopeVersion {
		return 0, id, nil, fmt.Errorf("%w: unknown entry envelope", ErrCorrupt)
	}
	rest := data[1:]
	origin, n := binary.Uvarint(rest)
	if n <= 0 {
		return 0, id, nil, fmt.Errorf("%w: bad envelope origin", ErrCorrupt)
	}
	rest = rest[n:]
	id.epoch, n = binary.Uvarint(rest)
	if n <= 0 {
		return 0, proposalID{}, nil, fmt.Errorf("%w: bad envelope epoch", ErrCorrupt)
	}
	rest = rest[n:]
	id.seq, n = binary.Uvarint(rest)
	if n <= 0 {
		return 0, proposalID{}, nil, fmt.Errorf("%w: bad envelope sequence", ErrCorrupt)
	}
	return origin, id, rest[n:], nil
}
