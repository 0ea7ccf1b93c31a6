package sim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// opKind names a client operation on the key-value store.
type opKind uint8

const (
	opPut opKind = iota + 1
	opGet
	opStaleGet
	opDelete
	opCAS
)

// writes reports whether the operation changes the store.
func (k opKind) writes() bool { return k == opPut || k == opDelete || k == opCAS }

func (k opKind) String() string {
	switch k {
	case opPut:
		return "put"
	case opGet:
		return "get"
	case opStaleGet:
		return "stale-get"
	case opDelete:
		return "delete"
	case opCAS:
		return "cas"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// kvCommand is what the replicated state machine applies. Values are never
// empty: the empty string stands for an absent key.
type kvCommand struct {
	ID     uint64 // the client operation's id, unique in a run
	Op     opKind
	Key    string
	Value  string
	Expect string // for cas: the value the key must hold
}

// kvResult is what applying a kvCommand returns to its proposer.
type kvResult struct {
	OK    bool   // put: always; cas: whether it swapped
	Found bool   // delete: whether the key existed
	Value string // cas: the value found when it did not swap
}

// kvMachine is the replicated key-value state machine.
type kvMachine struct {
	data map[string]string
	// applied, when set, hears of every command applied and its result.
	applied func(index uint64, cmd kvCommand, res kvResult)
}

func newKVMachine() *kvMachine { return &kvMachine{data: map[string]string{}} }

// Apply implements raftcore.StateMachine.
func (m *kvMachine) Apply(index uint64, cmd kvCommand) kvResult {
	res := m.apply(cmd)
	if m.applied != nil {
		m.applied(index, cmd, res)
	}
	return res
}

func (m *kvMachine) apply(cmd kvCommand) kvResult {
	switch cmd.Op {
	case opPut:
		m.data[cmd.Key] = cmd.Value
		return kvResult{OK: true}
	case opDelete:
		_, found := m.data[cmd.Key]
		delete(m.data, cmd.Key)
		return kvResult{OK: true, Found: found}
	case opCAS:
		cur := m.data[cmd.Key]
		if cur != "" && cur == cmd.Expect {
			m.data[cmd.Key] = cmd.Value
			return kvResult{OK: true}
		}
		return kvResult{Value: cur}
	}
	return kvResult{}
}

func (m *kvMachine) get(key string) string { return m.data[key] }

// Snapshot implements raftcore.StateMachine: keys in sorted order, so equal
// states give equal bytes.
func (m *kvMachine) Snapshot(w io.Writer) error {
	keys := make([]string, 0, len(m.data))
	for k := range m.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		buf = appendString(buf, k)
		buf = appendString(buf, m.data[k])
	}
	_, err := w.Write(buf)
	return err
}

// Restore implements raftcore.StateMachine.
func (m *kvMachine) Restore(r io.Reader) error {
	br := bufio.NewReader(io.LimitReader(r, maxSnapshotBytes))
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxSnapshotKeys {
		return fmt.Errorf("%w: snapshot key count", ErrCorrupt)
	}
	data := make(map[string]string, n)
	for range n {
		k, err := readString(br)
		if err != nil {
			return err
		}
		v, err := readString(br)
		if err != nil {
			return err
		}
		data[k] = v
	}
	// The engine reads on to EOF to verify the store's checksum; hand back
	// nothing beyond what was consumed.
	if br.Buffered() > 0 {
		return fmt.Errorf("%w: trailing bytes in snapshot", ErrCorrupt)
	}
	m.data = data
	return nil
}

const (
	maxSnapshotBytes = 64 << 20
	maxSnapshotKeys  = 1 << 20
	maxStringLen     = 1 << 16
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(br *bufio.Reader) (string, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxStringLen {
		return "", fmt.Errorf("%w: string length", ErrCorrupt)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", fmt.Errorf("%w: string truncated", ErrCorrupt)
	}
	return string(b), nil
}

// kvCodec encodes kvCommands as: op byte, id as a uvarint, then key, value
// and expect as length-prefixed strings.
type kvCodec struct{}

// Encode implements raftcore.Codec.
func (kvCodec) Encode(c kvCommand) ([]byte, error) {
	b := []byte{byte(c.Op)}
	b = binary.AppendUvarint(b, c.ID)
	b = appendString(b, c.Key)
	b = appendString(b, c.Value)
	return appendString(b, c.Expect), nil
}

// Decode implements raftcore.Codec; it never panics on malformed input.
func (kvCodec) Decode(data []byte) (kvCommand, error) {
	if len(data) == 0 || data[0] < byte(opPut) || data[0] > byte(opCAS) {
		return kvCommand{}, fmt.Errorf("%w: unknown command", ErrCorrupt)
	}
	c := kvCommand{Op: opKind(data[0])}
	id, k := binary.Uvarint(data[1:])
	if k <= 0 {
		return kvCommand{}, fmt.Errorf("%w: bad command id", ErrCorrupt)
	}
	c.ID = id
	rest := data[1+k:]
	for _, field := range []*string{&c.Key, &c.Value, &c.Expect} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return kvCommand{}, fmt.Errorf("%w: bad command field", ErrCorrupt)
		}
		*field = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return kvCommand{}, fmt.Errorf("%w: trailing command bytes", ErrCorrupt)
	}
	return c, nil
}
