package kvstore

import (
	"encoding/binary"
	"fmt"
)

// CommandCodec encodes Commands for the raft log in a compact binary form:
// a format byte, the op, a flags byte, the expected version, the key and the
// value. It implements raftcore.Codec[Command].
type CommandCodec struct{}

const (
	commandFormat   = 1
	flagConditional = 1
	// flagKeyed: the idempotency key (length, bytes) and the time (a
	// varint) follow the expected version.
	flagKeyed = 2
)

// Encode implements raftcore.Codec.
func (CommandCodec) Encode(c Command) ([]byte, error) {
	if c.Op != OpPut && c.Op != OpDelete {
		return nil, fmt.Errorf("%w: unknown op %d", ErrMalformed, c.Op)
	}
	b := make([]byte, 0, 3+2*binary.MaxVarintLen64+len(c.Key)+len(c.Value))
	var flags byte
	if c.Conditional {
		flags |= flagConditional
	}
	if c.IdempotencyKey != "" {
		flags |= flagKeyed
	}
	b = append(b, commandFormat, byte(c.Op), flags)
	b = binary.AppendUvarint(b, c.IfVersion)
	if c.IdempotencyKey != "" {
		b = binary.AppendUvarint(b, uint64(len(c.IdempotencyKey)))
		b = append(b, c.IdempotencyKey...)
		b = binary.AppendVarint(b, c.Time)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Key)))
	b = append(b, c.Key...)
	return append(b, c.Value...), nil
}

// Decode implements raftcore.Codec. It returns an error wrapping
// ErrMalformed, never panics, for bytes Encode did not produce.
func (CommandCodec) Decode(data []byte) (Command, error) {
	bad := func(what string) (Command, error) {
		return Command{}, fmt.Errorf("%w: command: %s", ErrMalformed, what)
	}
	if len(data) < 3 || data[0] != commandFormat {
		return bad("unknown format")
	}
	c := Command{Op: Op(data[1])}
	if c.Op != OpPut && c.Op != OpDelete {
		return bad("unknown op")
	}
	if data[2]&^(flagConditional|flagKeyed) != 0 {
		return bad("unknown flags")
	}
	c.Conditional = data[2]&flagConditional != 0
	rest := data[3:]
	v, n := binary.Uvarint(rest)
	if n <= 0 {
		return bad("bad version")
	}
	c.IfVersion, rest = v, rest[n:]
	if data[2]&flagKeyed != 0 {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l == 0 || l > uint64(len(rest)-n) {
			return bad("bad idempotency key length")
		}
		c.IdempotencyKey, rest = string(rest[n:n+int(l)]), rest[n+int(l):]
		if c.Time, n = binary.Varint(rest); n <= 0 {
			return bad("bad time")
		}
		rest = rest[n:]
	}
	l, n := binary.Uvarint(rest)
	if n <= 0 || l > uint64(len(rest)-n) {
		return bad("bad key length")
	}
	rest = rest[n:]
	c.Key, rest = string(rest[:l]), rest[l:]
	if len(rest) > 0 {
		c.Value = append([]byte(nil), rest...)
	}
	return c, nil
}
