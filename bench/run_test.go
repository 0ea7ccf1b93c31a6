package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
		OutDir:        dir,
		Systems:       []string{"jangada/mem+memory"},
		Clients:       []int{4},
		Sizes:         []int{64},
		Warmup:        50 * time.Millisecond,
		ClusterWarmup: -1,
		Duration:      300 * time.Millisecond,
		Skip:          []string{"read", "lease", "failover", "catchup", "scaling", "api", "profile"},
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

// countingCluster counts writes and the sizes they came in.
type countingCluster struct {
	harness.Cluster
	mu     sync.Mutex
	writes int
	sizes  map[int]bool
}

func (c *countingCluster) Write(ctx context.Context, cmd []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	c.sizes[len(cmd)] = true
	return nil
}

// TestNewClustersAreWarmedUp: before a cluster's first measured run, it
// takes writes of the job's first write size for ClusterWarmup, and none
// when the warm-up is off.
func TestNewClustersAreWarmedUp(t *testing.T) {
	j := job{kind: jobMeasure, items: []item{
		{scenario: harness.ReadScenario(harness.ReadIndex), size: 64, clients: 1, read: harness.ReadIndex},
		{scenario: harness.ScenarioWrite, size: 4096, clients: 1},
	}}
	for _, warm := range []time.Duration{50 * time.Millisecond, -1} {
		c := &countingCluster{sizes: map[int]bool{}}
		r := &Runner{cfg: harness.Config{ClusterWarmup: warm}}
		r.warmCluster(context.Background(), c, j)
		switch {
		case warm > 0 && (c.writes == 0 || !c.sizes[4096] || len(c.sizes) != 1):
			t.Fatalf("warm-up %v: %d writes of sizes %v, want some of 4096 B only", warm, c.writes, c.sizes)
		case warm < 0 && c.writes != 0:
			t.Fatalf("warm-up off: %d writes", c.writes)
		}
	}
}
