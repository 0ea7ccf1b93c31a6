package kvtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataRaceFindsTheReport(t *testing.T) {
	dir := t.TempDir()
	report := "WARNING: DATA RACE\nWrite at 0x00c000123456 by goroutine 7:\n  main.f()\n"
	tests := []struct {
		name, log, want string
	}{
		{"clean log", "level=WARN msg=\"peer unreachable\"\n", ""},
		{"empty log", "", ""},
		{"a race after other lines", "level=INFO msg=started\n==================\n" + report, report},
		{"a long report is cut", report + strings.Repeat("x", 2*raceReportBytes), (report + strings.Repeat("x", 2*raceReportBytes))[:raceReportBytes]},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i))+".log")
			if err := os.WriteFile(path, []byte(tt.log), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := DataRace(path)
			if err != nil || got != tt.want {
				t.Fatalf("DataRace: %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := DataRace(filepath.Join(dir, "missing.log")); err == nil {
		t.Fatal("DataRace of a missing file: no error")
	}
}
