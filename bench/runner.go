package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
	"github.com/jangada-io/jangada/bench/report"
)

// jobKind tells what a job does with its cluster.
type jobKind int

const (
	jobMeasure jobKind = iota
	jobFailover
	jobCatchUp
	jobAPI
	jobProfile
)

// item is one measured run on a job's cluster.
type item struct {
	scenario string
	size     int
	clients  int
	read     harness.ReadKind
}

// job is one cluster's life: start, run its items, stop.
type job struct {
	kind       jobKind
	system     harness.System
	spec       harness.ClusterSpec
	items      []item
	stateBytes int64
}

func (j job) steps() int {
	if j.kind == jobMeasure {
		return len(j.items)
	}
	if j.kind == jobAPI {
		return 2
	}
	return 1
}

// readClients are the client counts of the read scenarios.
var readClients = []int{1, harness.HeadlineClients}

// planTargets lists the jobs of a round that measures the target cells
// only: durable writes of the headline systems at 3 nodes and 64 B, and of
// the fsync floor, which says whether a target was within reach at all.
func planTargets(cfg harness.Config, systems []harness.System, round int) []job {
	if cfg.Skips("write") || !slices.Contains(cfg.Sizes, 64) {
		return nil
	}
	order := slices.DeleteFunc(slices.Clone(systems), func(s harness.System) bool { return !harness.IsHeadline(s) && s.Name != harness.FsyncFloorSystem })
	if round%2 == 1 {
		slices.Reverse(order)
	}
	var jobs []job
	for _, s := range order {
		j := job{kind: jobMeasure, system: s, spec: harness.ClusterSpec{Nodes: 3}}
		for _, c := range cfg.Clients {
			if slices.Contains(harness.TargetClients, c) {
				j.items = append(j.items, item{scenario: harness.ScenarioWrite, size: 64, clients: c})
			}
		}
		if len(j.items) > 0 {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// plan lists the jobs of one round. Within each scenario group the systems
// take turns, in reverse order on odd rounds, so that a slow phase of the
// machine does not fall on one system only.
func plan(cfg harness.Config, systems []harness.System, round int) []job {
	order := slices.Clone(systems)
	if round%2 == 1 {
		slices.Reverse(order)
	}
	var jobs []job
	for _, s := range order {
		j := job{kind: jobMeasure, system: s, spec: harness.ClusterSpec{Nodes: 3}}
		if !cfg.Skips("write") {
			for _, size := range cfg.Sizes {
				for _, c := range cfg.Clients {
					j.items = append(j.items, item{scenario: harness.ScenarioWrite, size: size, clients: c})
				}
			}
		}
		if !cfg.Skips("scaling") && harness.IsHeadline(s) {
			for _, size := range cfg.PayloadCurve {
				if !slices.Contains(cfg.Sizes, size) || !slices.Contains(cfg.Clients, harness.HeadlineClients) {
					j.items = append(j.items, item{scenario: harness.ScenarioWrite, size: size, clients: harness.HeadlineClients})
				}
			}
		}
		if !cfg.Skips("read") && !s.Diagnostic {
			for _, kind := range []harness.ReadKind{harness.ReadIndex, harness.ReadStale} {
				for _, c := range readClients {
					j.items = append(j.items, item{scenario: harness.ReadScenario(kind), size: 64, clients: c, read: kind})
				}
			}
		}
		if len(j.items) > 0 {
			jobs = append(jobs, j)
		}
	}
	// Diagnostic systems run the write matrix above and nothing else.
	order = slices.DeleteFunc(order, func(s harness.System) bool { return s.Diagnostic })
	if !cfg.Skips("lease") {
		for _, s := range order {
			j := job{kind: jobMeasure, system: s, spec: harness.ClusterSpec{Nodes: 3, LeaseReads: true}}
			for _, c := range readClients {
				j.items = append(j.items, item{scenario: harness.ReadScenario(harness.ReadLease), size: 64, clients: c, read: harness.ReadLease})
			}
			jobs = append(jobs, j)
		}
	}
	if !cfg.Skips("scaling") {
		for _, n := range cfg.ClusterSizes {
			for _, s := range order {
				if n > 5 && !harness.IsHeadline(s) {
					continue
				}
				j := job{kind: jobMeasure, system: s, spec: harness.ClusterSpec{Nodes: n},
					items: []item{{scenario: harness.ScenarioWrite, size: 64, clients: harness.HeadlineClients}}}
				if n == 5 && (harness.IsHeadline(s) || s.Name == harness.WALSystem) && !cfg.Skips("write") {
					// The headline systems, and store-wal next to pebble, get
					// the whole write matrix at 5 nodes.
					j.items = nil
					for _, size := range cfg.Sizes {
						for _, c := range cfg.Clients {
							j.items = append(j.items, item{scenario: harness.ScenarioWrite, size: size, clients: c})
						}
					}
				}
				jobs = append(jobs, j)
			}
		}
	}
	if !cfg.Skips("failover") {
		for range cfg.FailoverTrials {
			for _, s := range order {
				jobs = append(jobs, job{kind: jobFailover, system: s, spec: harness.ClusterSpec{Nodes: 3}})
			}
		}
	}
	if !cfg.Skips("catchup") {
		for _, size := range cfg.SnapshotSizes {
			for _, s := range order {
				if s.Durable {
					jobs = append(jobs, job{kind: jobCatchUp, system: s, stateBytes: size,
						spec: harness.ClusterSpec{Nodes: 3, KeepData: true, HoldBack: true}})
				}
			}
		}
	}
	if !cfg.Skips("api") && slices.ContainsFunc(systems, func(s harness.System) bool { return s.Name == harness.HeadlineJangada }) {
		jobs = append(jobs, job{kind: jobAPI, system: adapters.JangadaSystem("quic", "pebble"), spec: harness.ClusterSpec{Nodes: 3}})
	}
	return jobs
}

// Runner executes a Config and collects its results.
type Runner struct {
	cfg     harness.Config
	systems []harness.System
	results *harness.Results
	report  *report.Report
	step    int
	total   int
	start   time.Time
	// events, in a job's own process, receives its results instead of
	// results and the progress lines (see RunJob).
	events   *json.Encoder
	eventErr error
}

// Run executes every scenario cfg selects and returns the report, which
// it has also written to cfg.OutDir (and cfg.ResultsMD when set).
func Run(ctx context.Context, cfg harness.Config) (*report.Report, error) {
	cfg = cfg.WithDefaults()
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	systems, err := harness.SelectSystems(adapters.Systems(), cfg.Systems)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, systems: systems, results: harness.NewResults(), start: time.Now()}
	r.report = report.New(cfg, systems)
	floor, err := harness.ProbeFsync(cfg.OutDir, 4096, 200)
	if err != nil {
		return nil, fmt.Errorf("bench: fsync probe: %w", err)
	}
	r.report.Fsync = floor
	fmt.Fprintf(cfg.Progress, "fsync floor (%d B write + fdatasync in %s): p50 %s, p99 %s\n",
		floor.BlockSize, cfg.OutDir, harness.FormatDuration(floor.P50), harness.FormatDuration(floor.P99))
	var rounds [][]job
	for round := range cfg.TargetRounds {
		var jobs []job
		if round < cfg.Rounds {
			jobs = plan(cfg, systems, round)
		} else {
			jobs = planTargets(cfg, systems, round)
		}
		for _, j := range jobs {
			r.total += j.steps()
		}
		rounds = append(rounds, jobs)
	}
	profile := !cfg.Skips("profile") && slices.ContainsFunc(systems, func(s harness.System) bool { return s.Name == harness.HeadlineJangada })
	if profile {
		r.total += len(profileClients)
	}
	for _, jobs := range rounds {
		for _, j := range jobs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r.runJob(ctx, j)
		}
	}
	if profile {
		r.runProfile(ctx)
	}
	r.report.Results = r.results
	r.report.LoadAfter = harness.LoadAverage()
	r.report.CPUAfter = harness.SampleCPU()
	if after, err := harness.ProbeFsync(r.cfg.OutDir, 4096, 200); err == nil {
		r.report.FsyncAfter = after
		fmt.Fprintf(r.cfg.Progress, "fsync floor after the run: p50 %s, p99 %s\n", harness.FormatDuration(after.P50), harness.FormatDuration(after.P99))
	}
	r.report.Finished = time.Now()
	if err := r.report.Write(); err != nil {
		return r.report, err
	}
	return r.report, nil
}

func (r *Runner) progress(format string, args ...any) {
	r.step++
	el := time.Since(r.start).Round(time.Second)
	fmt.Fprintf(r.cfg.Progress, "[%d/%d %s] %s\n", r.step, r.total, el, fmt.Sprintf(format, args...))
}

// dataDir makes a fresh directory for one cluster's data, on the same
// filesystem as the results (which the fsync probe measured).
func (r *Runner) dataDir(name string) (string, error) {
	base := filepath.Join(r.cfg.OutDir, ".data")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(base, sanitize(name)+"-")
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// startTimeout bounds a cluster's start: its first election included.
const startTimeout = 30 * time.Second

func (r *Runner) startCluster(ctx context.Context, j job) (harness.Cluster, func(), error) {
	dir, err := r.dataDir(j.system.Name)
	if err != nil {
		return nil, nil, err
	}
	spec := j.spec
	spec.Dir = dir
	harness.ResetPeakRSS()
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	c, err := j.system.Start(sctx, spec)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(r.cfg.Progress, "  close %s: %v\n", j.system.Name, err)
		}
		_ = os.RemoveAll(dir)
	}
	return c, stop, nil
}

func (r *Runner) runJob(ctx context.Context, j job) {
	if len(r.cfg.Isolate) > 0 && r.events == nil {
		r.runIsolated(ctx, j)
		return
	}
	switch j.kind {
	case jobMeasure:
		r.runMeasure(ctx, j)
	case jobFailover:
		r.runFailover(ctx, j)
	case jobCatchUp:
		r.runCatchUp(ctx, j)
	case jobAPI:
		r.runAPI(ctx, j)
	}
}

func (r *Runner) key(j job, it item) harness.Key {
	return harness.Key{Scenario: it.scenario, System: j.system.Name, Nodes: j.spec.Nodes, Size: it.size, Clients: it.clients}
}

func (r *Runner) runMeasure(ctx context.Context, j job) {
	c, stop, err := r.startCluster(ctx, j)
	if err != nil {
		for _, it := range j.items {
			r.notMeasured(r.key(j, it), j.system, "start failed: "+err.Error(), fmt.Sprintf("%s %s: start failed: %v", j.system.Name, it.scenario, err))
		}
		return
	}
	defer stop()
	r.warmCluster(ctx, c, j)
	w := harness.Window{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration}
	for _, it := range j.items {
		k := r.key(j, it)
		cmd := make([]byte, it.size)
		harness.FillPayload(cmd)
		op := func(ctx context.Context) error { return c.Write(ctx, cmd) }
		if it.read != "" {
			kind := it.read
			op = func(ctx context.Context) error { return c.Read(ctx, kind) }
		}
		probe, cancel := context.WithTimeout(ctx, harness.OpGrace)
		err := op(probe)
		cancel()
		if errors.Is(err, harness.ErrUnsupported) {
			r.notMeasured(k, j.system, err.Error(), fmt.Sprintf("%s %s: not supported", j.system.Name, it.scenario))
			continue
		}
		m := harness.Drive(ctx, it.clients, w, it.size, op)
		r.measured(k, j.system, m, harness.PeakRSS(), fmt.Sprintf("%s %s %dn %dB c=%d: %.0f ops/s p50 %s p99 %s errors %d",
			j.system.Name, it.scenario, k.Nodes, it.size, it.clients, m.OpsPerSec, harness.FormatDuration(m.P50), harness.FormatDuration(m.P99), m.Errors))
	}
}

// warmCluster brings a newly started cluster to its steady state before its
// first measured run (Config.ClusterWarmup): HeadlineClients clients write
// commands of the job's first write size (64 B when it only reads). Nothing
// of it is measured, and errors are ignored: a cluster that cannot take
// writes shows it in the measured runs.
func (r *Runner) warmCluster(ctx context.Context, c harness.Cluster, j job) {
	if r.cfg.ClusterWarmup <= 0 {
		return
	}
	size := 64
	for _, it := range j.items {
		if it.read == "" {
			size = it.size
			break
		}
	}
	cmd := make([]byte, size)
	harness.FillPayload(cmd)
	harness.Drive(ctx, harness.HeadlineClients, harness.Window{Duration: r.cfg.ClusterWarmup}, size,
		func(ctx context.Context) error { return c.Write(ctx, cmd) })
}

// timedTimeout bounds one failover or catch-up trial.
const timedTimeout = 10 * time.Minute

func (r *Runner) runFailover(ctx context.Context, j job) {
	k := harness.Key{Scenario: harness.ScenarioFailover, System: j.system.Name, Nodes: j.spec.Nodes, Size: 64}
	c, stop, err := r.startCluster(ctx, j)
	if err != nil {
		r.notMeasured(k, j.system, "start failed: "+err.Error(), fmt.Sprintf("%s failover: start failed: %v", j.system.Name, err))
		return
	}
	defer stop()
	cmd := make([]byte, 64)
	tctx, cancel := context.WithTimeout(ctx, timedTimeout)
	defer cancel()
	if err := harness.RetryWrite(tctx, c, cmd); err != nil {
		r.notMeasured(k, j.system, "first write failed: "+err.Error(), fmt.Sprintf("%s failover: %v", j.system.Name, err))
		return
	}
	elected, writable, err := harness.Failover(tctx, c, cmd)
	if err != nil {
		r.notMeasured(k, j.system, "failover failed: "+err.Error(), fmt.Sprintf("%s failover: %v", j.system.Name, err))
		return
	}
	r.timed(k, j.system, writable, elected, harness.PeakRSS(),
		fmt.Sprintf("%s failover: new leader after %s, first write after %s", j.system.Name, harness.FormatDuration(elected), harness.FormatDuration(writable)))
}

func (r *Runner) runCatchUp(ctx context.Context, j job) {
	k := harness.Key{Scenario: harness.ScenarioCatchUp, System: j.system.Name, Nodes: j.spec.Nodes, Size: harness.CatchUpChunk, StateBytes: j.stateBytes}
	c, stop, err := r.startCluster(ctx, j)
	if err != nil {
		r.notMeasured(k, j.system, "start failed: "+err.Error(), fmt.Sprintf("%s catch-up: start failed: %v", j.system.Name, err))
		return
	}
	defer stop()
	cc, ok := c.(harness.CatchUpCluster)
	if !ok {
		r.notMeasured(k, j.system, "no snapshot catch-up", fmt.Sprintf("%s catch-up: not supported", j.system.Name))
		return
	}
	tctx, cancel := context.WithTimeout(ctx, timedTimeout)
	defer cancel()
	d, err := harness.CatchUp(tctx, cc, j.stateBytes)
	if err != nil {
		r.notMeasured(k, j.system, "catch-up failed: "+err.Error(), fmt.Sprintf("%s catch-up %s: %v", j.system.Name, harness.FormatBytes(j.stateBytes), err))
		return
	}
	r.timed(k, j.system, d, 0, harness.PeakRSS(),
		fmt.Sprintf("%s catch-up of %s: %s", j.system.Name, harness.FormatBytes(j.stateBytes), harness.FormatDuration(d)))
}

func removeAll(dir string) { _ = os.RemoveAll(dir) }
