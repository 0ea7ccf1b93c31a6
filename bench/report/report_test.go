package report

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

func sampleResults() *harness.Results {
	rs := harness.NewResults()
	sys := harness.System{Name: "sys-a", Family: harness.FamilyJangada, Durable: true}
	for _, c := range []int{1, 64} {
		rec := harness.NewRecorder()
		for range 100 * c {
			rec.Record(2 * time.Millisecond)
		}
		rs.AddMeasurement(harness.Key{Scenario: harness.ScenarioWrite, System: "sys-a", Nodes: 3, Size: 64, Clients: c}, sys,
			harness.Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec, CPU: time.Second}, 1<<20)
	}
	rs.AddNotMeasured(harness.Key{Scenario: harness.ReadScenario(harness.ReadLease), System: "sys-b", Nodes: 3, Size: 64, Clients: 1},
		harness.System{Name: "sys-b", Family: harness.FamilyHashicorp}, "no lease reads")
	rs.AddTime(harness.Key{Scenario: harness.ScenarioFailover, System: "sys-a", Nodes: 3}, sys, 1500*time.Millisecond, time.Second, 0)
	return rs
}

func TestWriteCSVWritesOneLinePerCell(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, sampleResults()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	if len(recs) != 5 {
		t.Fatalf("%d lines, want header + 4 cells", len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	tests := []struct {
		line   int
		column string
		want   string
	}{
		{1, "scenario", "write"},
		{1, "clients", "1"},
		{1, "ops", "100"},
		{1, "ops_per_s", "100.000"},
		{1, "p50_us", "2000"},
		{1, "cpu_s_per_1k_ops", "10.000"},
		{2, "cpu_s_per_1k_ops", "0.156"},
		{2, "ops", "6400"},
		{2, "peak_rss_bytes", "1048576"},
		{3, "not_measured", "no lease reads"},
		{3, "ops", "0"},
		{4, "time_median_ms", "1500.000"},
		{4, "elected_median_ms", "1000.000"},
	}
	for _, tt := range tests {
		if got := recs[tt.line][col[tt.column]]; got != tt.want {
			t.Errorf("line %d %s = %q, want %q", tt.line, tt.column, got, tt.want)
		}
	}
}

func TestReportMarkdownNamesTargetsAndGaps(t *testing.T) {
	dir := t.TempDir()
	r := New(harness.Config{OutDir: dir}.WithDefaults(), []harness.System{{Name: "sys-a", Tuning: "t"}})
	r.Results = sampleResults()
	for _, scenario := range []string{harness.ScenarioAPILibrary, harness.ScenarioAPIHTTP} {
		rec := harness.NewRecorder()
		rec.Record(time.Millisecond)
		r.Results.AddMeasurement(harness.Key{Scenario: scenario, System: "sys-a", Nodes: 3, Size: 64, Clients: 64}, harness.System{Name: "sys-a"},
			harness.Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec}, 0)
	}
	if err := r.Write(); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fsync floor", "## Targets", "not measured", "no lease reads", "dragonboat", "Load average", "write-vs-clients.png", "## Reading these figures", "MICROBENCH.md",
		"| library API, sys-a |", "| kvstore HTTP API, sys-a |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "write-vs-clients.png")); err != nil {
		t.Errorf("chart not written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.csv")); err != nil {
		t.Errorf("csv not written: %v", err)
	}
}

func TestChartSeriesDropsSystemsWithOnePoint(t *testing.T) {
	rs := sampleResults()
	rec := harness.NewRecorder()
	rec.Record(time.Millisecond)
	rs.AddMeasurement(harness.Key{Scenario: harness.ScenarioWrite, System: "lonely", Nodes: 3, Size: 64, Clients: 1}, harness.System{Name: "lonely"},
		harness.Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec}, 0)
	names, series := chartSeries(rs, chartSpecs()[0])
	if len(names) != 1 || names[0] != "sys-a" || len(series["sys-a"]) != 2 {
		t.Fatalf("series %v, want only sys-a with 2 points", names)
	}
	if series["sys-a"][0].X != 1 || series["sys-a"][1].X != 64 {
		t.Fatalf("points not sorted by clients: %v", series["sys-a"])
	}
}

func TestExplanationsDecomposeAMissedTarget(t *testing.T) {
	rs := harness.NewResults()
	add := func(system string, clients int, opsPerSec int) {
		rec := harness.NewRecorder()
		for range opsPerSec {
			rec.Record(time.Millisecond)
		}
		rs.AddMeasurement(harness.Key{Scenario: harness.ScenarioWrite, System: system, Nodes: 3, Size: 64, Clients: clients}, harness.System{Name: system},
			harness.Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec, CPU: time.Second}, 0)
	}
	add(harness.HeadlineJangada, 64, 1000)
	add(harness.HeadlineHashicorp, 64, 800) // 1.25×: the 3× target is missed
	add("jangada/mem+pebble", 64, 2000)
	add(harness.FsyncFloorSystem, 64, 2000) // 2.5× hashicorp: the goal is out of reach
	add(harness.HeadlineEtcd, 64, 1600)
	add(harness.WALSystem, 64, 1200)
	add(harness.HeadlineJangada, 1, 100)
	add(harness.HeadlineHashicorp, 1, 100)
	add(harness.WALSystem, 1, 100)
	r := &Report{Results: rs}
	ex := strings.Join(r.Explanations(), "\n")
	for _, want := range []string{"Transport, 64 clients", "takes 50% of that away", "CPU, 64 clients", "2.50× hashicorp",
		"That is itself below the 3× goal in this run.",
		"makes 1600 ops/s = 2.00× hashicorp; quic+pebble makes 62% of that",
		"QUIC makes 1200 ops/s = 1.50× hashicorp, 1.20× quic+pebble",
		"With store-wal instead of pebble, p50 is 1.00ms (1.00× hashicorp's"} {
		if !strings.Contains(ex, want) {
			t.Errorf("explanations lack %q:\n%s", want, ex)
		}
	}

	rs = harness.NewResults()
	add(harness.HeadlineJangada, 64, 1000)
	add(harness.HeadlineHashicorp, 64, 800)
	add(harness.FsyncFloorSystem, 64, 4000) // 5×: reachable in principle
	r = &Report{Results: rs}
	if ex := strings.Join(r.Explanations(), "\n"); !strings.Contains(ex, "5.00× hashicorp") || strings.Contains(ex, "below the") {
		t.Errorf("a floor above the goal must not be called out of reach:\n%s", ex)
	}

	met := harness.NewResults()
	r = &Report{Results: met}
	if ex := r.Explanations(); len(ex) != 0 {
		t.Errorf("explanations without a missed target: %v", ex)
	}
}

func TestTargetsShowTheSpreadOfSingleRounds(t *testing.T) {
	rs := harness.NewResults()
	add := func(system string, ops ...int64) {
		for _, n := range ops {
			rec := harness.NewRecorder()
			for range n {
				rec.Record(time.Millisecond)
			}
			rs.AddMeasurement(harness.Key{Scenario: harness.ScenarioWrite, System: system, Nodes: 3, Size: 64, Clients: 64}, harness.System{Name: system},
				harness.Measurement{Summary: rec.Summarize(time.Second, 64), Latencies: rec}, 0)
		}
	}
	add(harness.HeadlineJangada, 300, 200, 250)
	add(harness.HeadlineHashicorp, 100, 100, 50)
	r := &Report{Results: rs}
	got := r.Targets()[0]
	if !got.Known || math.Abs(got.Value-3) > 0.003 || !got.Met {
		t.Fatalf("target %+v: want the merged ratio (750 ops / 3 s) / (250 ops / 3 s) = 3, met", got)
	}
	if want := "250 vs 83 ops/s; one round: 2.00–5.00×, median 3.00× (3 rounds)"; got.Detail != want {
		t.Fatalf("detail %q, want %q", got.Detail, want)
	}
	// A slow round of hashicorp lifts the merged ratio; the median of the
	// rounds does not follow it.
	rs = harness.NewResults()
	add(harness.HeadlineJangada, 300, 300, 300, 300)
	add(harness.HeadlineHashicorp, 100, 100, 120, 30)
	r = &Report{Results: rs}
	if m, ok := r.HeadlineRoundMedian(); !ok || math.Abs(m-3) > 0.003 {
		t.Fatalf("median round ratio %v, %v; want 3, the middle rounds (ratios 2.5, 3, 3, 10)", m, ok)
	}
}

func TestFiveNodeTargetNamesStoreWAL(t *testing.T) {
	rs := harness.NewResults()
	add := func(system string, ops int) {
		rec := harness.NewRecorder()
		for range ops {
			rec.Record(time.Millisecond)
		}
		rs.AddMeasurement(harness.Key{Scenario: harness.ScenarioWrite, System: system, Nodes: 5, Size: 4096, Clients: 64}, harness.System{Name: system},
			harness.Measurement{Summary: rec.Summarize(time.Second, 4096), Latencies: rec}, 0)
	}
	add(harness.HeadlineJangada, 300)
	add(harness.HeadlineHashicorp, 100)
	add(harness.WALSystem, 450)
	r := &Report{Results: rs}
	targets := r.Targets()
	got := targets[len(targets)-1]
	if !got.Known || math.Abs(got.Value-3) > 0.003 {
		t.Fatalf("5-node target %+v: want quic+pebble's 3×", got)
	}
	if want := "300 vs 100 ops/s; with store-wal: 450 ops/s = 4.50×"; got.Detail != want {
		t.Fatalf("detail %q, want %q", got.Detail, want)
	}
}
