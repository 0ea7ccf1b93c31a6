package clustertest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Counter is the cheapest state machine: it counts applied commands and
// returns each command's index.
type Counter struct{ N uint64 }

// Apply implements raftcore.StateMachine.
func (c *Counter) Apply(index uint64, _ []byte) uint64 { c.N++; return index }

// Snapshot implements raftcore.StateMachine.
func (c *Counter) Snapshot(w io.Writer) error { _, err := fmt.Fprintf(w, "%d", c.N); return err }

// Restore implements raftcore.StateMachine.
func (c *Counter) Restore(r io.Reader) error { _, err := fmt.Fscan(r, &c.N); return err }

// RawCodec passes byte commands through unchanged.
type RawCodec struct{}

// Encode implements raftcore.Codec.
func (RawCodec) Encode(b []byte) ([]byte, error) { return b, nil }

// Decode implements raftcore.Codec.
func (RawCodec) Decode(b []byte) ([]byte, error) { return b, nil }

// BenchmarkPropose measures committed proposals per second on a 3-node
// cluster built from opts, with proposers concurrent callers of Propose on
// the leader, each proposing size-byte commands. It reports ops/s and the
// p50/p99 latency of one proposal in microseconds.
func BenchmarkPropose(b *testing.B, opts Options, proposers, size int) {
	configure := opts.Configure
	opts.Configure = func(cfg *raftcore.Config) {
		cfg.Preset = raftcore.Production
		if configure != nil {
			configure(cfg)
		}
	}
	c := NewCluster(b, opts, 3, func() raftcore.StateMachine[[]byte, uint64] { return &Counter{} }, RawCodec{})
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
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}
