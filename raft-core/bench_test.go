package raftcore_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// counter is the cheapest state machine: it counts applied commands.
type counter struct{ n uint64 }

func (c *counter) Apply(index uint64, _ []byte) uint64 { c.n++; return index }
func (c *counter) Snapshot(w io.Writer) error          { _, err := fmt.Fprintf(w, "%d", c.n); return err }
func (c *counter) Restore(r io.Reader) error           { _, err := fmt.Fscan(r, &c.n); return err }

type rawCodec struct{}

func (rawCodec) Encode(b []byte) ([]byte, error) { return b, nil }
func (rawCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// BenchmarkPropose measures committed proposals per second on a 3-node
// cluster (loopback network, in-memory stores, 64-byte commands) with 1, 16,
// 64 and 256 concurrent proposers on the leader. It reports ops/s and the
// p50/p99 latency of one proposal.
func BenchmarkPropose(b *testing.B) {
	for _, proposers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			benchmarkPropose(b, clustertest.Options{NewNetwork: clustertest.NewLoopback}, proposers, 64)
		})
	}
}

func benchmarkPropose(b *testing.B, opts clustertest.Options, proposers, size int) {
	opts.Configure = func(cfg *raftcore.Config) {
		cfg.Preset = raftcore.Production
	}
	c := clustertest.NewCluster(b, opts, 3, func() raftcore.StateMachine[[]byte, uint64] { return &counter{} }, rawCodec{})
	lead := c.Leader()
	cmd := make([]byte, size)
	latencies := make([][]time.Duration, proposers)
	per := b.N/proposers + 1
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				if _, err := lead.Propose(context.Background(), cmd); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			latencies[p] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
