package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

// testTimeout bounds every cluster operation in tests; elections take about
// a second with the shared 1s election timeout.
const testTimeout = 60 * time.Second

func TestRunWritesReportForOneScenario(t *testing.T) {
	dir := t.TempDir()
	cfg := harness.Config{
		OutDir:   dir,
		Systems:  []string{"jangada/mem+memory"},
		Clients:  []int{4},
		Sizes:    []int{64},
		Warmup:   50 * time.Millisecond,
		Duration: 300 * time.Millisecond,
		Skip:     []string{"read", "lease", "failover", "catchup", "scaling", "api", "profile"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	report, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	row := report.Results.Get(harness.Key{Scenario: harness.ScenarioWrite, System: "jangada/mem+memory", Nodes: 3, Size: 64, Clients: 4})
	if row == nil || row.Ops == 0 || row.P50 <= 0 {
		t.Fatalf("no write figures: %+v", row)
	}
	if report.Fsync.Samples == 0 || report.Fsync.P50 <= 0 {
		t.Fatalf("no fsync floor: %+v", report.Fsync)
	}
	if _, ok := report.HeadlineRatio(); ok {
		t.Fatal("headline ratio known without the headline systems")
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "jangada/mem+memory") {
		t.Fatal("report.md does not name the system")
	}
}
