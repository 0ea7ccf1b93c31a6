package harness

import (
	"bytes"
	"testing"

	"github.com/google/pprof/profile"
)

// syntheticProfile builds a CPU profile with known stacks: main.work calls
// syscall.Syscall (3 samples) and runtime.mallocgc (1 sample).
func syntheticProfile(t *testing.T) *bytes.Buffer {
	t.Helper()
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	work, sys, alloc := fn(1, "main.work"), fn(2, "syscall.Syscall"), fn(3, "runtime.mallocgc")
	loc := func(id uint64, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Line: []profile.Line{{Function: f}}}
	}
	lWork, lSys, lAlloc := loc(1, work), loc(2, sys), loc(3, alloc)
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Function:   []*profile.Function{work, sys, alloc},
		Location:   []*profile.Location{lWork, lSys, lAlloc},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lSys, lWork}, Value: []int64{3, 300}},
			{Location: []*profile.Location{lAlloc, lWork}, Value: []int64{1, 100}},
		},
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestSummarizeProfileRanksFunctionsAndAreas(t *testing.T) {
	s, err := SummarizeProfile(syntheticProfile(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.TopFlat) != 2 || s.TopFlat[0].Function != "syscall.Syscall" || !near(s.TopFlat[0].Flat, 0.75) {
		t.Fatalf("top flat %+v, want syscall.Syscall at 75%%", s.TopFlat)
	}
	if s.TopCum[0].Function != "main.work" || !near(s.TopCum[0].Cum, 1) {
		t.Fatalf("top cum %+v, want main.work at 100%%", s.TopCum)
	}
	if s.ByArea[0].Function != "other system calls (disk writes, timers)" || !near(s.ByArea[0].Flat, 0.75) {
		t.Fatalf("areas %+v", s.ByArea)
	}
}

func TestSummarizeProfileRejectsGarbage(t *testing.T) {
	if _, err := SummarizeProfile(bytes.NewReader([]byte("not a profile")), 5); err == nil {
		t.Fatal("garbage accepted as a profile")
	}
}

func TestAreaOfNamesWhatMadeASystemCall(t *testing.T) {
	tests := []struct {
		stack []string
		want  string
	}{
		{[]string{"internal/runtime/syscall/linux.Syscall6", "golang.org/x/sys/unix.Fdatasync"}, "fsync (disk)"},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "github.com/quic-go/quic-go.(*Transport).WriteTo"}, "network system calls (UDP/TCP)"},
		{[]string{"syscall.Syscall", "os.(*File).Write"}, "other system calls (disk writes, timers)"},
		{[]string{"runtime.memmove"}, "memory copies"},
		{[]string{"go.etcd.io/raft/v3.(*raft).Step"}, "etcd raft state machine"},
	}
	for _, tt := range tests {
		if got := areaOf(tt.stack); got != tt.want {
			t.Errorf("areaOf(%v) = %q, want %q", tt.stack, got, tt.want)
		}
	}
}
