package raftcore

import (
	"encoding/binary"
	"fmt"
)

// Every normal entry and every conf change context the engine writes starts
// with an envelope: a version byte, the proposing node's id and its proposal
// id. The proposer recognises its own entries by (origin, id) when it applies
// them and hands the result to the waiting caller.
const envelopeVersion = 1

func appendEnvelope(dst []byte, origin, id uint64, payload []byte) []byte {
	dst = append(dst, envelopeVersion)
	dst = binary.AppendUvarint(dst, origin)
	dst = binary.AppendUvarint(dst, id)
	return append(dst, payload...)
}

func envelopeSize(origin, id uint64, payload int) int {
	return 1 + uvarintLen(origin) + uvarintLen(id) + payload
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func parseEnvelope(data []byte) (origin, id uint64, payload []byte, err error) {
	if len(data) == 0 || data[0] != envelopeVersion {
		return 0, 0, nil, fmt.Errorf("%w: unknown entry envelope", ErrCorrupt)
	}
	rest := data[1:]
	origin, n := binary.Uvarint(rest)
	if n <= 0 {
		return 0, 0, nil, fmt.Errorf("%w: bad envelope origin", ErrCorrupt)
	}
	rest = rest[n:]
	id, n = binary.Uvarint(rest)
	if n <= 0 {
		return 0, 0, nil, fmt.Errorf("%w: bad envelope id", ErrCorrupt)
	}
	return origin, id, rest[n:], nil
}
