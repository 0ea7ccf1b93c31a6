package bench

import (
	"context"
	"fmt"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

// runAPI compares writes through the library (Propose of a kvstore
// Command) with the same writes through the kvstore HTTP API, on one
// cluster, at the headline client count and 64 B values.
func (r *Runner) runAPI(ctx context.Context, j job) {
	const size = 64
	keys := []harness.Key{
		{Scenario: harness.ScenarioAPILibrary, System: j.system.Name, Nodes: j.spec.Nodes, Size: size, Clients: harness.HeadlineClients},
		{Scenario: harness.ScenarioAPIHTTP, System: j.system.Name, Nodes: j.spec.Nodes, Size: size, Clients: harness.HeadlineClients},
	}
	dir, err := r.dataDir("kvstore")
	if err == nil {
		defer removeAll(dir)
	}
	var c *adapters.KVCluster
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		harness.ResetPeakRSS()
		c, err = adapters.StartKV(sctx, dir, j.spec.Nodes)
		cancel()
	}
	if err != nil {
		for _, k := range keys {
			r.notMeasured(k, j.system, "start failed: "+err.Error(), fmt.Sprintf("kvstore %s: start failed: %v", k.Scenario, err))
		}
		return
	}
	defer func() { _ = c.Close() }()
	value := make([]byte, size)
	harness.FillPayload(value)
	w := harness.Window{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
	for i, op := range []func(context.Context, []byte) error{c.WriteLibrary, c.WriteHTTP} {
		m := harness.Drive(ctx, harness.HeadlineClients, w, size, func(ctx context.Context) error { return op(ctx, value) })
		r.measured(keys[i], j.system, m, harness.PeakRSS(), fmt.Sprintf("kvstore %s c=%d: %.0f ops/s p50 %s p99 %s errors %d",
			keys[i].Scenario, harness.HeadlineClients, m.OpsPerSec, harness.FormatDuration(m.P50), harness.FormatDuration(m.P99), m.Errors))
	}
}
