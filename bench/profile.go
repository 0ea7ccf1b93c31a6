package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

// profileClients are the client counts profiled: the headline and the
// highest concurrency.
var profileClients = []int{harness.HeadlineClients, 256}

// runProfile runs the headline jangada write scenario under the CPU
// profiler, once per client count, and summarizes where the time goes.
func (r *Runner) runProfile(ctx context.Context) {
	sys := adapters.JangadaSystem("quic", "pebble")
	j := job{kind: jobProfile, system: sys, spec: harness.ClusterSpec{Nodes: 3}}
	c, stop, err := r.startCluster(ctx, j)
	if err != nil {
		r.progress("profile: start failed: %v", err)
		return
	}
	defer stop()
	for _, clients := range profileClients {
		sum, err := r.profileWrites(ctx, c, clients)
		if err != nil {
			r.progress("profile %d clients: %v", clients, err)
			continue
		}
		sum.Scenario = fmt.Sprintf("%s write, 3 nodes, 64 B, %d clients (%s)", sys.Name, clients, sum.Scenario)
		r.report.Profiles = append(r.report.Profiles, sum)
		r.progress("profile %d clients: %s written; top area %s", clients, sum.File, harness.TopArea(sum))
	}
}

// profileWrites profiles three windows of writes from clients clients.
func (r *Runner) profileWrites(ctx context.Context, c harness.Cluster, clients int) (harness.ProfileSummary, error) {
	path := filepath.Join(r.cfg.OutDir, fmt.Sprintf("cpu-jangada-write-%dclients.pprof", clients))
	f, err := os.Create(path)
	if err != nil {
		return harness.ProfileSummary{}, err
	}
	defer f.Close()
	cmd := make([]byte, 64)
	harness.FillPayload(cmd)
	op := func(ctx context.Context) error { return c.Write(ctx, cmd) }
	// Warm up outside the profile.
	harness.Drive(ctx, clients, harness.Window{Duration: r.cfg.Warmup}, 64, op)
	if err := pprof.StartCPUProfile(f); err != nil {
		return harness.ProfileSummary{}, err
	}
	// Three windows: enough samples on a loaded machine.
	m := harness.Drive(ctx, clients, harness.Window{Duration: 3 * r.cfg.Duration}, 64, op)
	pprof.StopCPUProfile()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return harness.ProfileSummary{}, err
	}
	sum, err := harness.SummarizeProfile(f, 15)
	if err != nil {
		return harness.ProfileSummary{}, err
	}
	sum.Scenario = fmt.Sprintf("%.0f ops/s while profiled", m.OpsPerSec)
	sum.File = filepath.Base(path)
	return sum, nil
}
