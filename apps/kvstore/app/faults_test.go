package app

import (
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	fs, err := parseFaults([]byte("# a comment\n\npartition 127.0.0.1:7001 127.0.0.1:7002\nloss 0.25\ndelay 40ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.partition) != 2 || fs.partition[1].String() != "127.0.0.1:7002" || fs.loss != 0.25 || fs.delay != 40*time.Millisecond {
		t.Fatalf("parsed %+v", fs)
	}
	if fs, err := parseFaults(nil); err != nil || len(fs.partition) != 0 || fs.loss != 0 || fs.delay != 0 {
		t.Fatalf("an empty file = %+v, %v; want no fault", fs, err)
	}
	for in, want := range map[string]string{
		"partition\n":         "line 1: partition needs at least one address",
		"loss 2\n":            "line 1: loss needs one rate between 0 and 1",
		"\ndelay soon\n":      "line 2: delay needs one non-negative duration",
		"partition nowhere:x": `line 1: address "nowhere:x"`,
		"flood 127.0.0.1:1\n": `line 1: unknown fault "flood"`,
	} {
		if _, err := parseFaults([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFaults(%q) = %v, want an error with %q", in, err, want)
		}
	}
}
