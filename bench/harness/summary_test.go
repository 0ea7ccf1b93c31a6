package harness

import (
	"testing"
	"time"
)

func TestRecorderSummarizesThroughputAndPercentiles(t *testing.T) {
	tests := []struct {
		name      string
		latencies []time.Duration
		elapsed   time.Duration
		size      int
		wantOps   int64
		wantRate  float64
		wantMBps  float64
		wantP50   time.Duration
		wantP99   time.Duration
	}{
		{
			name:      "uniform 1..100ms over one second",
			latencies: millis(1, 100),
			elapsed:   time.Second, size: 1 << 20,
			wantOps: 100, wantRate: 100, wantMBps: 100,
			wantP50: 50 * time.Millisecond, wantP99: 99 * time.Millisecond,
		},
		{
			name:      "two seconds halves the rate",
			latencies: millis(5, 5),
			elapsed:   2 * time.Second, size: 64,
			wantOps: 1, wantRate: 0.5, wantMBps: 0.5 * 64 / (1 << 20),
			wantP50: 5 * time.Millisecond, wantP99: 5 * time.Millisecond,
		},
		{
			name:    "no operations gives zero figures",
			elapsed: time.Second, size: 64,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder()
			for _, d := range tt.latencies {
				r.Record(d)
			}
			s := r.Summarize(tt.elapsed, tt.size)
			if s.Ops != tt.wantOps || !near(s.OpsPerSec, tt.wantRate) || !near(s.MBPerSec, tt.wantMBps) {
				t.Fatalf("ops %d rate %.3f MB/s %.6f, want %d %.3f %.6f", s.Ops, s.OpsPerSec, s.MBPerSec, tt.wantOps, tt.wantRate, tt.wantMBps)
			}
			if !nearDur(s.P50, tt.wantP50) || !nearDur(s.P99, tt.wantP99) {
				t.Fatalf("p50 %v p99 %v, want %v %v", s.P50, s.P99, tt.wantP50, tt.wantP99)
			}
		})
	}
}

func TestRecorderMergeAddsCountsAndClampsOutliers(t *testing.T) {
	a, b := NewRecorder(), NewRecorder()
	a.Record(time.Millisecond)
	b.Record(2 * time.Hour) // beyond the range: clamped, still counted
	b.Record(0)             // below the range: clamped to 1µs
	a.Merge(b)
	if a.Count() != 3 {
		t.Fatalf("count %d after merge, want 3", a.Count())
	}
	s := a.Summarize(time.Second, 0)
	if s.P999 < 59*time.Second {
		t.Fatalf("p99.9 %v, want the clamped one-minute maximum", s.P999)
	}
}

func millis(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}

func near(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	d := (got - want) / want
	return d > -0.001 && d < 0.001
}

// nearDur allows the histogram's three significant digits.
func nearDur(got, want time.Duration) bool {
	d := got - want
	return d >= -want/500-time.Microsecond && d <= want/500+time.Microsecond
}

func TestParseProcStatAndCPUInfo(t *testing.T) {
	total, steal := parseProcStat("cpu  100 5 50 800 20 1 2 7 30 0\ncpu0 1 2 3\n")
	if total != 985 || steal != 7 {
		t.Errorf("total %d steal %d, want 985 and 7 (guest time is not counted twice)", total, steal)
	}
	if total, _ := parseProcStat("intr 1 2\n"); total != 0 {
		t.Errorf("a stat without a cpu line gives %d", total)
	}
	if mhz := meanMHz("processor\t: 0\ncpu MHz\t\t: 2000.000\nprocessor\t: 1\ncpu MHz\t\t: 3000.5\n"); mhz != 2500.25 {
		t.Errorf("mean MHz %v, want 2500.25", mhz)
	}
	if s := StealShare(CPUSample{Total: 100, Steal: 10}, CPUSample{Total: 300, Steal: 30}); s != 0.1 {
		t.Errorf("steal share %v, want 0.1", s)
	}
}
