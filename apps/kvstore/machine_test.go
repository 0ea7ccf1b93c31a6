package kvstore

import (
	"bytes"
	"errors"
	"testing"
)

func TestApplyVersionsAndConditions(t *testing.T) {
	m := NewMachine()
	steps := []struct {
		index       uint64
		cmd         Command
		wantApplied bool
		wantPrev    uint64
		wantVersion uint64 // of the key after the step; 0 = absent
	}{
		{1, Command{Op: OpPut, Key: "k", Value: []byte("a"), Conditional: true}, true, 0, 1},
		{2, Command{Op: OpPut, Key: "k", Value: []byte("b"), Conditional: true}, false, 1, 1},
		{3, Command{Op: OpPut, Key: "k", Value: []byte("c"), Conditional: true, IfVersion: 1}, true, 1, 3},
		{4, Command{Op: OpPut, Key: "k", Value: []byte("d")}, true, 3, 4},
		{5, Command{Op: OpDelete, Key: "k", Conditional: true, IfVersion: 3}, false, 4, 4},
		{6, Command{Op: OpDelete, Key: "k", Conditional: true, IfVersion: 4}, true, 4, 0},
		{7, Command{Op: OpDelete, Key: "k"}, true, 0, 0},
		{8, Command{Op: Op(9), Key: "k"}, false, 0, 0},
	}
	for _, s := range steps {
		res := m.Apply(s.index, s.cmd)
		if res.Index != s.index || res.Applied != s.wantApplied || res.PrevVersion != s.wantPrev {
			t.Fatalf("step %d: %+v, want applied %v prev %d", s.index, res, s.wantApplied, s.wantPrev)
		}
		e, ok := m.Get("k")
		if ok != (s.wantVersion != 0) || e.Version != s.wantVersion {
			t.Fatalf("step %d: key at %d (present %v), want %d", s.index, e.Version, ok, s.wantVersion)
		}
	}
}

func sampleMachine() *Machine {
	m := NewMachine()
	m.Apply(3, Command{Op: OpPut, Key: "b", Value: []byte("two")})
	m.Apply(4, Command{Op: OpPut, Key: "a", Value: []byte("one")})
	m.Apply(5, Command{Op: OpPut, Key: "empty"})
	m.Apply(9, Command{Op: OpPut, Key: "ключ", Value: bytes.Repeat([]byte{0, 1, 2}, 1000)})
	return m
}

func TestSnapshotRestoresTheSameState(t *testing.T) {
	m := sampleMachine()
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewMachine()
	r.Apply(1, Command{Op: OpPut, Key: "stale", Value: []byte("x")})
	if err := r.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if r.Len() != m.Len() {
		t.Fatalf("restored %d keys, want %d", r.Len(), m.Len())
	}
	for k, want := range m.data {
		got, ok := r.Get(k)
		if !ok || got.Version != want.Version || !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("key %q: %+v, want %+v", k, got, want)
		}
	}
	var again bytes.Buffer
	if err := r.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), snap.Bytes()) {
		t.Fatal("equal states produced different snapshots")
	}
}

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	var good bytes.Buffer
	if err := sampleMachine().Snapshot(&good); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(g)
		b[i] ^= 0x40
		return b
	}
	hugeLength := append(append([]byte(nil), snapshotMagic...), 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", flip(0)},
		{"flipped value byte", flip(len(g) / 2)},
		{"flipped checksum", flip(len(g) - 1)},
		{"truncated", g[:len(g)-10]},
		{"no checksum", g[:len(g)-4]},
		{"trailing bytes", append(bytes.Clone(g), 0)},
		{"key length over the limit", hugeLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleMachine()
			if err := m.Restore(bytes.NewReader(tt.data)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Restore: %v, want ErrMalformed", err)
			}
			if m.Len() != 4 {
				t.Fatal("a failed restore changed the state")
			}
		})
	}
}

func TestCommandCodecRoundTrip(t *testing.T) {
	cmds := []Command{
		{Op: OpPut, Key: "k", Value: []byte("v")},
		{Op: OpPut, Key: "k", Conditional: true},
		{Op: OpDelete, Key: "a/b/c", Conditional: true, IfVersion: 1 << 40},
		{Op: OpPut, Key: "ключ", Value: bytes.Repeat([]byte{0}, 1000)},
	}
	for _, c := range cmds {
		data, err := CommandCodec{}.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CommandCodec{}.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Op != c.Op || got.Key != c.Key || !bytes.Equal(got.Value, c.Value) || got.Conditional != c.Conditional || got.IfVersion != c.IfVersion {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
	}
}

func TestCommandCodecRefusesMalformedInput(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown format", []byte{2, 1, 0, 0, 0}},
		{"unknown op", []byte{1, 7, 0, 0, 0}},
		{"unknown flag", []byte{1, 1, 4, 0, 0}},
		{"truncated version", []byte{1, 1, 0, 0x80}},
		{"key longer than the data", []byte{1, 1, 0, 0, 5, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (CommandCodec{}).Decode(tt.data); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode: %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := (CommandCodec{}).Encode(Command{Op: 0, Key: "k"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Encode of an unknown op: %v", err)
	}
}

func FuzzCommandDecode(f *testing.F) {
	for _, c := range []Command{{Op: OpPut, Key: "k", Value: []byte("v")}, {Op: OpDelete, Key: "x", Conditional: true, IfVersion: 7}} {
		data, _ := CommandCodec{}.Encode(c)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := CommandCodec{}.Decode(data)
		if err != nil {
			return
		}
		again, err := CommandCodec{}.Encode(c)
		if err != nil {
			t.Fatalf("decoded command %+v does not encode: %v", c, err)
		}
		if _, err := (CommandCodec{}).Decode(again); err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
	})
}

func FuzzRestore(f *testing.F) {
	var good bytes.Buffer
	_ = sampleMachine().Snapshot(&good)
	f.Add(good.Bytes())
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMachine()
		if err := m.Restore(bytes.NewReader(data)); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Restore: %v, want nil or ErrMalformed", err)
		}
	})
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true}, {"a/b c", true}, {"ключ", true}, {"", false}, {"123456789", false},
		{"a\nb", false}, {".", false}, {"..", false}, {"...", true}, {"\x7f", false}, {"\xff", false},
	}
	for _, tt := range tests {
		if err := ValidateKey(tt.key, 8); (err == nil) != tt.ok {
			t.Errorf("ValidateKey(%q): %v, want ok=%v", tt.key, err, tt.ok)
		}
	}
}
