package adapters

import (
	"context"
	"testing"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

// testTimeout bounds every cluster operation in tests; elections take about
// a second with the shared 1s election timeout.
const testTimeout = 60 * time.Second

// memorySystems are the systems that need neither disk nor sockets beyond
// loopback TCP: one per family, to check every adapter.
func memorySystems(t *testing.T) []harness.System {
	t.Helper()
	s, err := harness.SelectSystems(Systems(), []string{"jangada/mem+memory", "hashicorp/tcp+inmem", "etcd-raft/chan+memory"})
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
			c, err := sys.Start(ctx, harness.ClusterSpec{Nodes: 3, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := c.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
			cmd := []byte("payload")
			if err := harness.RetryWrite(ctx, c, cmd); err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, kind := range []harness.ReadKind{harness.ReadIndex, harness.ReadStale} {
				if err := c.Read(ctx, kind); err != nil {
					t.Fatalf("%s read: %v", kind, err)
				}
			}
			elected, writable, err := harness.Failover(ctx, c, cmd)
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
			c, err := sys.Start(ctx, harness.ClusterSpec{Nodes: 3, Dir: t.TempDir(), KeepData: true, HoldBack: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			cc, ok := c.(harness.CatchUpCluster)
			if !ok {
				t.Fatalf("%s cannot measure catch-up", sys.Name)
			}
			d, err := harness.CatchUp(ctx, cc, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if d <= 0 {
				t.Fatalf("catch-up took %v", d)
			}
		})
	}
}
