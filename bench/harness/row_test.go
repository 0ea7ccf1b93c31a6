package harness

import (
	"testing"
	"time"
)

func TestResultsMergeRoundsOfOneCell(t *testing.T) {
	rs := NewResults()
	sys := System{Name: "s"}
	k := Key{Scenario: ScenarioWrite, System: "s", Nodes: 3, Size: 64, Clients: 1}
	for range 2 {
		rec := NewRecorder()
		for range 50 {
			rec.Record(time.Millisecond)
		}
		rs.AddMeasurement(k, sys, Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec}, 0)
	}
	rs.AddNotMeasured(k, sys, "ignored once measured")
	row := rs.Get(k)
	if row.Rounds != 2 || row.Ops != 100 || !near(row.OpsPerSec, 50) || row.NotMeasured != "" {
		t.Fatalf("merged row: rounds %d ops %d rate %.1f note %q; want 2 rounds, 100 ops, 50 ops/s, no note",
			row.Rounds, row.Ops, row.OpsPerSec, row.NotMeasured)
	}
}

func TestMedianOfTrials(t *testing.T) {
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3}, 3},
		{[]time.Duration{4, 2}, 3},
		{[]time.Duration{5, 1, 3}, 3},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
