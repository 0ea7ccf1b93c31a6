package raftcore

import (
	"encoding/binary"
	"fmt"
	"io"
)

// SessionCodec encodes SessionCommands for the log: the session fields, then
// the application's command as Inner encodes it.
type SessionCodec[C any] struct{ Inner Codec[C] }

var _ Codec[SessionCommand[struct{}]] = SessionCodec[struct{}]{}

// sessionCommandVersion leads every encoded SessionCommand.
const sessionCommandVersion = 1

// Encode implements Codec.
func (c SessionCodec[C]) Encode(cmd SessionCommand[C]) ([]byte, error) {
	if cmd.Op > SessionKeyed {
		return nil, fmt.Errorf("raftcore: unknown session op %d", cmd.Op)
	}
	b := []byte{sessionCommandVersion, byte(cmd.Op)}
	b = appendUvarint(b, cmd.Session)
	b = appendUvarint(b, cmd.Seq)
	b = appendUvarint(b, cmd.Acked)
	b = appendBytes(b, []byte(cmd.Key))
	b = appendVarint(b, cmd.Time)
	if !cmd.Op.carriesCommand() {
		return b, nil
	}
	inner, err := c.Inner.Encode(cmd.Cmd)
	if err != nil {
		return nil, err
	}
	return append(b, inner...), nil
}

// Decode implements Codec; it returns an error wrapping ErrCorrupt for bytes
// Encode did not produce.
func (c SessionCodec[C]) Decode(data []byte) (SessionCommand[C], error) {
	var cmd SessionCommand[C]
	if len(data) < 2 || data[0] != sessionCommandVersion || SessionOp(data[1]) > SessionKeyed {
		return cmd, fmt.Errorf("%w: unknown session command", ErrCorrupt)
	}
	cmd.Op = SessionOp(data[1])
	d := decoder{b: data[2:]}
	cmd.Session, cmd.Seq, cmd.Acked = d.uvarint(), d.uvarint(), d.uvarint()
	cmd.Key = string(d.bytes())
	cmd.Time = d.varint()
	if d.err != nil {
		return cmd, fmt.Errorf("%w: session command: %v", ErrCorrupt, d.err)
	}
	if !cmd.Op.carriesCommand() {
		if len(d.b) != 0 {
			return cmd, fmt.Errorf("%w: trailing bytes in session command", ErrCorrupt)
		}
		return cmd, nil
	}
	inner, err := c.Inner.Decode(d.b)
	if err != nil {
		return cmd, err
	}
	cmd.Cmd = inner
	return cmd, nil
}

func (op SessionOp) carriesCommand() bool {
	return op == SessionNone || op == SessionCall || op == SessionKeyed
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func readUvarint(r io.ByteReader) (uint64, error) { return binary.ReadUvarint(r) }

// decoder reads what the append functions wrote; the first error sticks and
// later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("bad %s", what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that follow, each at least one byte long.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return n
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
