package kvstore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/btree"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Op is the kind of write a Command makes.
type Op uint8

const (
	// OpPut sets a key's value.
	OpPut Op = 1
	// OpDelete removes a key.
	OpDelete Op = 2
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Command is one write, replicated through raft and applied by every node's
// Machine in log order.
type Command struct {
	Op    Op
	Key   string
	Value []byte
	// Conditional makes the write apply only when the key's version equals
	// IfVersion; IfVersion 0 means "the key is absent" (create only).
	Conditional bool
	IfVersion   uint64
	// IdempotencyKey, when set, makes the write apply at most once per key
	// (see idempotency.go); Time is the proposer's clock (Unix nanoseconds),
	// the log's time by which keys expire.
	IdempotencyKey string
	Time           int64
}

// Result is what applying a Command returns to its proposer.
type Result struct {
	// Index is the command's log index: the key's new version after a put.
	Index uint64
	// Applied is false when a conditional command's version did not match;
	// nothing changed then.
	Applied bool
	// Existed reports whether the key was present before the command.
	Existed bool
	// PrevVersion is the key's version before the command, 0 if absent.
	PrevVersion uint64
	// Duplicate: a write with the same IdempotencyKey applied before; this
	// is its result.
	Duplicate bool
}

// Entry is a stored value and its version: the log index of the write that
// set it.
type Entry struct {
	Value   []byte
	Version uint64
}

// KeyVersion names a key and its version in listings.
type KeyVersion struct {
	Key     string `json:"key"`
	Version uint64 `json:"version"`
}

// Machine is the key-value state machine (raftcore.StateMachine[Command,
// Result]). The engine serialises Apply, Snapshot and Restore against reads;
// Get and List must be called inside Node.Read or Node.ReadStale.
//
// Values are never modified in place: a put replaces the stored slice, so a
// value returned by Get stays valid after the read lock is released.
//
// Keys are kept twice: in a map for Get, and in a B-tree in byte order, so
// that a listing seeks to its prefix and stops at its limit (O(log n +
// limit) under the read lock) and a snapshot needs no sort.
type Machine struct {
	data  map[string]Entry
	order *btree.BTreeG[string]
	// onListVisit, when set (by tests), is called for each key List looks at.
	onListVisit func()
	// sessions remembers the results of writes with an IdempotencyKey.
	sessions *raftcore.Sessions[Command, Result]
}

// btreeDegree is the B-tree's node fan-out; 32 is google/btree's advice for
// small items.
const btreeDegree = 32

// NewMachine returns an empty Machine.
func NewMachine() *Machine {
	return &Machine{data: map[string]Entry{}, order: newKeyOrder()}
}

func newKeyOrder() *btree.BTreeG[string] {
	return btree.NewG(btreeDegree, func(a, b string) bool { return a < b })
}

// applyKeys applies c to the keys. index becomes the version of the key a
// put writes.
func (m *Machine) applyKeys(index uint64, c Command) Result {
	cur, existed := m.data[c.Key]
	res := Result{Index: index, Existed: existed, PrevVersion: cur.Version}
	if c.Conditional && c.IfVersion != cur.Version {
		return res
	}
	switch c.Op {
	case OpPut:
		if !existed {
			m.order.ReplaceOrInsert(c.Key)
		}
		m.data[c.Key] = Entry{Value: c.Value, Version: index}
	case OpDelete:
		if existed {
			m.order.Delete(c.Key)
		}
		delete(m.data, c.Key)
	default:
		// The codec refuses unknown operations; an entry that gets here
		// anyway changes nothing, identically on every node.
		return res
	}
	res.Applied = true
	return res
}

// Get returns the entry stored under key.
func (m *Machine) Get(key string) (Entry, bool) {
	e, ok := m.data[key]
	return e, ok
}

// Len returns the number of keys.
func (m *Machine) Len() int { return len(m.data) }

// List returns up to limit keys starting with prefix, in byte order, and
// whether more keys matched; a negative limit means no limit. It looks at
// no more than limit+1 keys: a listing costs O(log n + limit).
func (m *Machine) List(prefix string, limit int) (keys []KeyVersion, more bool) {
	if limit > 0 {
		keys = make([]KeyVersion, 0, min(limit, len(m.data)))
	}
	m.order.AscendGreaterOrEqual(prefix, func(k string) bool {
		if m.onListVisit != nil {
			m.onListVisit()
		}
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if limit >= 0 && len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, KeyVersion{Key: k, Version: m.data[k].Version})
		return true
	})
	return keys, more
}

// Snapshot format: magic, count, then per key in byte order: version, key
// length, key, value length, value (all lengths and numbers uvarints), and a
// CRC-32C of everything before it.
var snapshotMagic = []byte("kvstore-snapshot-1\n")

// Limits enforced when decoding commands and snapshots, so damaged bytes
// cannot make a node allocate without bound.
const (
	maxDecodedKey   = 64 << 10
	maxDecodedValue = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotKeys writes every key, sorted, so that equal states produce equal
// bytes.
func (m *Machine) snapshotKeys(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var num [binary.MaxVarintLen64]byte
	putUvarint := func(v uint64) {
		_, _ = bw.Write(num[:binary.PutUvarint(num[:], v)])
	}
	_, _ = bw.Write(snapshotMagic)
	putUvarint(uint64(len(m.data)))
	m.order.Ascend(func(k string) bool {
		e := m.data[k]
		putUvarint(e.Version)
		putUvarint(uint64(len(k)))
		_, _ = bw.WriteString(k)
		putUvarint(uint64(len(e.Value)))
		_, _ = bw.Write(e.Value)
		return true
	})
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("kvstore: write snapshot: %w", err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("kvstore: write snapshot: %w", err)
	}
	return nil
}

// restoreKeys reads what snapshotKeys wrote. It returns an error wrapping
// ErrMalformed, and leaves the keys unchanged, for other bytes.
func (m *Machine) restoreKeys(r io.Reader) error {
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(r, 64<<10)
	tr := io.TeeReader(br, crc)
	bad := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("%w: snapshot: %s", ErrMalformed, what)
		}
		return fmt.Errorf("%w: snapshot: %s: %w", ErrMalformed, what, err)
	}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(tr, magic); err != nil || string(magic) != string(snapshotMagic) {
		return bad("bad header", err)
	}
	byteReader := &countingByteReader{r: tr}
	count, err := binary.ReadUvarint(byteReader)
	if err != nil {
		return bad("key count", err)
	}
	data := make(map[string]Entry, min(count, 1<<16))
	order := newKeyOrder()
	prev := ""
	for i := uint64(0); i < count; i++ {
		version, err := binary.ReadUvarint(byteReader)
		if err != nil {
			return bad("version", err)
		}
		key, err := readField(byteReader, maxDecodedKey)
		if err != nil {
			return bad("key", err)
		}
		value, err := readField(byteReader, maxDecodedValue)
		if err != nil {
			return bad("value", err)
		}
		if i > 0 && string(key) <= prev {
			return bad("keys out of order", nil)
		}
		prev = string(key)
		data[prev] = Entry{Value: value, Version: version}
		order.ReplaceOrInsert(prev)
	}
	want := crc.Sum32()
	var trailer [4]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return bad("checksum", err)
	}
	if binary.BigEndian.Uint32(trailer[:]) != want {
		return bad("checksum mismatch", nil)
	}
	if n, _ := br.Read(trailer[:1]); n != 0 {
		return bad("trailing bytes", nil)
	}
	m.data, m.order = data, order
	return nil
}

type countingByteReader struct{ r io.Reader }

func (c *countingByteReader) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

func (c *countingByteReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// readField reads a uvarint length and that many bytes, refusing lengths
// over limit before allocating.
func readField(r *countingByteReader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("length %d over limit %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ValidateKey reports whether key can be stored: 1 to maxSize bytes of valid
// UTF-8 without control characters, and neither "." nor ".." (which no URL
// path can address). The error wraps ErrInvalidKey.
func ValidateKey(key string, maxSize int) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > maxSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), maxSize)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case key == "." || key == "..":
		return fmt.Errorf("%w: %q cannot be addressed in a URL path", ErrInvalidKey, key)
	case strings.ContainsFunc(key, unicode.IsControl):
		return fmt.Errorf("%w: contains a control character", ErrInvalidKey)
	}
	return nil
}
