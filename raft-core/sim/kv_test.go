package sim

import (
	"bytes"
	"errors"
	"testing"
)

func TestKVCodecRoundTrips(t *testing.T) {
	tests := []kvCommand{
		{Op: opPut, Key: "k", Value: "v1"},
		{Op: opDelete, Key: "k"},
		{Op: opCAS, Key: "key", Value: "new", Expect: "old"},
		{Op: opPut, Key: "", Value: string(make([]byte, 300))},
	}
	for _, cmd := range tests {
		b, err := kvCodec{}.Encode(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kvCodec{}.Decode(b)
		if err != nil || got != cmd {
			t.Errorf("round trip of %+v gave %+v, %v", cmd, got, err)
		}
	}
}

func TestKVCodecRejectsMalformedBytes(t *testing.T) {
	good, _ := kvCodec{}.Encode(kvCommand{ID: 7, Op: opCAS, Key: "k", Value: "v", Expect: "e"})
	tests := map[string][]byte{
		"empty":          nil,
		"unknown op":     {99, 1, 0, 0, 0},
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge length":    {byte(opPut), 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range tests {
		if _, err := (kvCodec{}).Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzKVCodecDecode(f *testing.F) {
	good, _ := kvCodec{}.Encode(kvCommand{ID: 7, Op: opCAS, Key: "k", Value: "v", Expect: "e"})
	f.Add(good)
	f.Add([]byte{byte(opPut), 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := kvCodec{}.Decode(b)
		if err != nil {
			return
		}
		again, err := kvCodec{}.Encode(cmd)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %x to %+v, which encodes to %x", b, cmd, again)
		}
	})
}

func TestKVMachineAppliesCommands(t *testing.T) {
	m := newKVMachine()
	steps := []struct {
		cmd  kvCommand
		want kvResult
	}{
		{kvCommand{Op: opPut, Key: "a", Value: "1"}, kvResult{OK: true}},
		{kvCommand{Op: opCAS, Key: "a", Expect: "2", Value: "3"}, kvResult{Value: "1"}},
		{kvCommand{Op: opCAS, Key: "a", Expect: "1", Value: "3"}, kvResult{OK: true}},
		{kvCommand{Op: opCAS, Key: "b", Expect: "1", Value: "3"}, kvResult{}},
		{kvCommand{Op: opDelete, Key: "a"}, kvResult{OK: true, Found: true}},
		{kvCommand{Op: opDelete, Key: "a"}, kvResult{OK: true}},
	}
	for i, st := range steps {
		if got := m.Apply(uint64(i+1), st.cmd); got != st.want {
			t.Errorf("step %d %+v: got %+v, want %+v", i, st.cmd, got, st.want)
		}
	}
}

func TestKVSnapshotRestoresTheSameState(t *testing.T) {
	m := newKVMachine()
	m.Apply(1, kvCommand{Op: opPut, Key: "b", Value: "2"})
	m.Apply(2, kvCommand{Op: opPut, Key: "a", Value: "1"})
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r := newKVMachine()
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(r.data, m.data) {
		t.Fatalf("restored %v, want %v", r.data, m.data)
	}
	if err := r.Restore(bytes.NewReader(buf.Bytes()[:buf.Len()-1])); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated snapshot: got %v, want ErrCorrupt", err)
	}
}
