package adapters

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestMachineSnapshotRestoresCountAndData(t *testing.T) {
	for _, keep := range []bool{false, true} {
		m := NewMachine(keep)
		m.Apply(1, []byte("ab"))
		m.Apply(2, []byte("cd"))
		var buf bytes.Buffer
		if err := m.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		r := NewMachine(keep)
		if err := r.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		wantSize := 0
		if keep {
			wantSize = 4
		}
		if r.Count() != 2 || r.Size() != wantSize {
			t.Fatalf("keep=%v: restored count %d size %d, want 2 %d", keep, r.Count(), r.Size(), wantSize)
		}
	}
}

func TestMachineRestoreRejectsDamagedState(t *testing.T) {
	huge := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), maxRestoreSize+1)
	short := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 1), 10)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated header", []byte{1, 2, 3}},
		{"size over the limit", huge},
		{"data shorter than announced", append(short, 'x')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(true)
			m.Apply(1, []byte("kept"))
			if err := m.Restore(bytes.NewReader(tt.data)); err == nil {
				t.Fatal("restore accepted damaged state")
			}
			if m.Count() != 1 || m.Size() != 4 {
				t.Fatalf("failed restore changed the state: count %d size %d", m.Count(), m.Size())
			}
		})
	}
}
