package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

func isolatedConfig(t *testing.T, isolate []string) harness.Config {
	return harness.Config{
		OutDir:        t.TempDir(),
		Systems:       []string{"jangada/mem+memory", "ceiling/tls-tcp"},
		Clients:       []int{1, 4},
		Sizes:         []int{64},
		Warmup:        50 * time.Millisecond,
		ClusterWarmup: -1,
		Duration:      200 * time.Millisecond,
		Skip:          []string{"read", "lease", "catchup", "scaling", "api", "profile"},
		// One failover: a timed job crosses the process boundary too.
		FailoverTrials: 1,
		Isolate:        isolate,
	}
}

// TestIsolatedJobsReportLikeInProcess: with Isolate, every job runs in a
// child process (this test binary, see TestMain) and its measurements,
// latencies and timed trials arrive in the parent's results.
func TestIsolatedJobsReportLikeInProcess(t *testing.T) {
	t.Setenv(runJobEnv, "1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	report, err := Run(ctx, isolatedConfig(t, []string{os.Args[0]}))
	if err != nil {
		t.Fatal(err)
	}
	for _, sys := range []string{"jangada/mem+memory", "ceiling/tls-tcp"} {
		for _, c := range []int{1, 4} {
			row := report.Results.Get(harness.Key{Scenario: harness.ScenarioWrite, System: sys, Nodes: 3, Size: 64, Clients: c})
			if row == nil || row.Ops == 0 || row.P50 <= 0 || row.PeakRSS <= 0 || row.CPU <= 0 || row.NotMeasured != "" {
				t.Fatalf("%s c=%d: no figures from the child: %+v", sys, c, row)
			}
		}
	}
	fo := report.Results.Get(harness.Key{Scenario: harness.ScenarioFailover, System: "jangada/mem+memory", Nodes: 3, Size: 64})
	if fo == nil || len(fo.Times) != 1 || fo.NotMeasured != "" {
		t.Fatalf("failover trial did not cross: %+v", fo)
	}
}

// TestFailedJobProcessLeavesCellsNotMeasured: a child that dies reports
// nothing, and its cells say why instead of showing zeros.
func TestFailedJobProcessLeavesCellsNotMeasured(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	report, err := Run(ctx, isolatedConfig(t, []string{"false"}))
	if err != nil {
		t.Fatal(err)
	}
	row := report.Results.Get(harness.Key{Scenario: harness.ScenarioWrite, System: "jangada/mem+memory", Nodes: 3, Size: 64, Clients: 4})
	if row == nil || row.Ops != 0 || !strings.Contains(row.NotMeasured, "job process") {
		t.Fatalf("cell of a failed job process: %+v", row)
	}
	fo := report.Results.Get(harness.Key{Scenario: harness.ScenarioFailover, System: "jangada/mem+memory", Nodes: 3, Size: 64})
	if fo == nil || !strings.Contains(fo.NotMeasured, "job process") {
		t.Fatalf("failover cell of a failed job process: %+v", fo)
	}
}
