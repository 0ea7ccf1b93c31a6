package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testTimeout bounds every cluster operation in tests; elections take about
// a second with the shared 1s election timeout.
const testTimeout = 60 * time.Second

func TestRunWritesReportForOneScenario(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
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
	row := report.Results.Get(Key{Scenario: ScenarioWrite, System: "jangada/mem+memory", Nodes: 3, Size: 64, Clients: 4})
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

// memorySystems are the systems that need neither disk nor sockets beyond
// loopback TCP: one per family, to check every adapter.
func memorySystems(t *testing.T) []System {
	t.Helper()
	s, err := SelectSystems(Systems(), []string{"jangada/mem+memory", "hashicorp/tcp+inmem", "etcd-raft/chan+memory"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSystemsWriteReadAndFailOver(t *testing.T) {
	for _, sys := range memorySystems(t) {
		t.Run(sys.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := sys.Start(ctx, ClusterSpec{Nodes: 3, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := c.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
			cmd := []byte("payload")
			if err := retryWrite(ctx, c, cmd); err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, kind := range []ReadKind{ReadIndex, ReadStale} {
				if err := c.Read(ctx, kind); err != nil {
					t.Fatalf("%s read: %v", kind, err)
				}
			}
			elected, writable, err := Failover(ctx, c, cmd)
			if err != nil {
				t.Fatalf("failover: %v", err)
			}
			if elected <= 0 || writable < elected {
				t.Fatalf("failover times: elected %v writable %v", elected, writable)
			}
		})
	}
}

func TestSystemsCatchUpThroughSnapshot(t *testing.T) {
	for _, sys := range memorySystems(t) {
		t.Run(sys.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := sys.Start(ctx, ClusterSpec{Nodes: 3, Dir: t.TempDir(), KeepData: true, HoldBack: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			cc, ok := c.(CatchUpCluster)
			if !ok {
				t.Fatalf("%s cannot measure catch-up", sys.Name)
			}
			d, err := CatchUp(ctx, cc, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if d <= 0 {
				t.Fatalf("catch-up took %v", d)
			}
		})
	}
}

func TestDriveCountsOnlyTheMeasuredWindow(t *testing.T) {
	var calls int
	var mu = make(chan struct{}, 1)
	op := func(ctx context.Context) error {
		mu <- struct{}{}
		calls++
		<-mu
		return nil
	}
	m := Drive(context.Background(), 2, Window{Warmup: 20 * time.Millisecond, Duration: 50 * time.Millisecond}, 8, op)
	if m.Ops == 0 || m.Ops >= int64(calls) {
		t.Fatalf("counted %d of %d calls: the warm-up must be excluded and the window counted", m.Ops, calls)
	}
	if m.Errors != 0 || m.Elapsed != 50*time.Millisecond {
		t.Fatalf("errors %d elapsed %v", m.Errors, m.Elapsed)
	}
}
