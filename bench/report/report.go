package report

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

// Report is the outcome of a run: what ran, on what, and the figures.
type Report struct {
	Config  harness.Config
	Systems []harness.System
	// Command is how the run was started, printed in the report.
	Command    string
	Machine    MachineInfo
	Started    time.Time
	Finished   time.Time
	LoadBefore string
	LoadAfter  string
	// CPUBefore and CPUAfter frame the run: frequency and stolen time.
	CPUBefore, CPUAfter harness.CPUSample
	Fsync               harness.FsyncFloor
	// FsyncAfter is the same probe once every scenario ran: a disk that
	// slowed down during the run shows here.
	FsyncAfter harness.FsyncFloor
	Results    *harness.Results
	Profiles   []harness.ProfileSummary
	// Charts are the chart files written, relative to the output directory.
	Charts []string
}

// MachineInfo describes where the figures came from.
type MachineInfo struct {
	CPU        string
	CPUs       int
	GOMAXPROCS int
	Memory     string
	Kernel     string
	Go         string
	Filesystem string
}

// New returns the report of a run of cfg over systems, started now: the
// machine and its load are read, Results is empty.
func New(cfg harness.Config, systems []harness.System) *Report {
	return &Report{
		Config: cfg, Systems: systems, Command: cfg.Command,
		Machine: readMachine(cfg.OutDir), Started: time.Now(), LoadBefore: harness.LoadAverage(), CPUBefore: harness.SampleCPU(), Results: harness.NewResults(),
	}
}

func readMachine(dir string) MachineInfo {
	m := MachineInfo{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	m.CPU = firstField("/proc/cpuinfo", "model name")
	if kb := firstField("/proc/meminfo", "MemTotal"); kb != "" {
		if v, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.Memory = harness.FormatBytes(v << 10)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.Filesystem = filesystemType(dir)
	return m
}

func firstField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func filesystemType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	names := map[int64]string{0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x794c7630: "overlayfs", 0x2FC12FC1: "zfs"}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", st.Type)
}

// Target is one of the goals the report checks.
type Target struct {
	Name   string
	Goal   string
	Value  float64
	Known  bool
	Met    bool
	Detail string
}

func (r *Report) writeRow(system string, clients int) *harness.Row {
	if r.Results == nil {
		return nil
	}
	row := r.Results.Get(harness.Key{Scenario: harness.ScenarioWrite, System: system, Nodes: 3, Size: 64, Clients: clients})
	if row == nil || row.Ops == 0 {
		return nil
	}
	return row
}

// HeadlineRatio returns jangada's write throughput over hashicorp's at 64
// clients, 3 durable nodes, 64 B.
func (r *Report) HeadlineRatio() (float64, bool) {
	j, h := r.writeRow(harness.HeadlineJangada, harness.HeadlineClients), r.writeRow(harness.HeadlineHashicorp, harness.HeadlineClients)
	if j == nil || h == nil {
		return 0, false
	}
	return j.OpsPerSec / h.OpsPerSec, true
}

// roundRatios are a's throughput over b's in the rounds they were both
// measured in (round i of a against round i of b, which ran next to each
// other), sorted; nil with fewer than two rounds.
func roundRatios(a, b *harness.Row) []float64 {
	n := min(len(a.RoundRates), len(b.RoundRates))
	if n < 2 {
		return nil
	}
	ratios := make([]float64, n)
	for i := range n {
		if b.RoundRates[i] <= 0 {
			return nil
		}
		ratios[i] = a.RoundRates[i] / b.RoundRates[i]
	}
	slices.Sort(ratios)
	return ratios
}

// median is the middle of sorted values (the mean of the two middle ones
// for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// roundSpread describes the range and the median of a's throughput over
// b's across single rounds, or "" with fewer than two rounds. The merged
// ratio (all operations over all time) weighs a slow round of either side
// fully; the median says what a typical round gave.
func roundSpread(a, b *harness.Row) string {
	ratios := roundRatios(a, b)
	if ratios == nil {
		return ""
	}
	return fmt.Sprintf("; one round: %.2f–%.2f×, median %.2f× (%d rounds)", ratios[0], ratios[len(ratios)-1], median(ratios), len(ratios))
}

// HeadlineRoundMedian is the median over single rounds of the headline
// ratio, and false when fewer than two rounds measured both systems.
func (r *Report) HeadlineRoundMedian() (float64, bool) {
	j, h := r.writeRow(harness.HeadlineJangada, harness.HeadlineClients), r.writeRow(harness.HeadlineHashicorp, harness.HeadlineClients)
	if j == nil || h == nil {
		return 0, false
	}
	ratios := roundRatios(j, h)
	if ratios == nil {
		return 0, false
	}
	return median(ratios), true
}

// displayName names a row in a table: the system, and for the API
// comparison which API the clients used.
func displayName(row *harness.Row) string {
	switch row.Scenario {
	case harness.ScenarioAPILibrary:
		return "library API, " + row.System
	case harness.ScenarioAPIHTTP:
		return "kvstore HTTP API, " + row.System
	}
	return row.System
}

// The goals of the performance round, each a ratio measured side by side
// in one run (3 durable nodes, 64 B unless said otherwise).
const (
	// hashicorpGoal: write throughput over hashicorp/raft's, 64 and 256 clients.
	hashicorpGoal = 3.0
	// etcdGoal: write throughput over the bare etcd-raft loop's, 64 and 256 clients.
	etcdGoal = 1.2
	// transportGoal, transportGoal1: transport-quic's write throughput over
	// transport-mem's with the memory store, at 64 and 256 clients and at 1.
	transportGoal, transportGoal1 = 0.8, 0.6
	// latencyGoal: single-client p50 over hashicorp's; fsyncLatencyGoal:
	// over the disk's fsync floor p50.
	latencyGoal, fsyncLatencyGoal = 0.6, 2.0
	// readGoal, leaseGoal: ReadIndex and lease reads over hashicorp's
	// linearizable reads, 64 clients.
	readGoal, leaseGoal = 1.0, 2.0
	// cpuGoal: CPU seconds per 1,000 writes over hashicorp's, 64 clients.
	cpuGoal = 0.5
	// fiveNodeGoal: write throughput over hashicorp's with 5 nodes and
	// 4 KiB commands, 64 clients.
	fiveNodeGoal = 2.5
)

// row returns the measured row of key k, or nil.
func (r *Report) row(k harness.Key) *harness.Row {
	if r.Results == nil {
		return nil
	}
	row := r.Results.Get(k)
	if row == nil || row.Ops == 0 {
		return nil
	}
	return row
}

// throughputTarget compares the write or read throughput of two rows.
func throughputTarget(name string, goal float64, a, b *harness.Row) Target {
	t := Target{Name: name, Goal: fmt.Sprintf("≥ %.1f×", goal)}
	if a != nil && b != nil && b.OpsPerSec > 0 {
		t.Value, t.Known = a.OpsPerSec/b.OpsPerSec, true
		t.Met = t.Value >= goal
		t.Detail = fmt.Sprintf("%.0f vs %.0f ops/s%s", a.OpsPerSec, b.OpsPerSec, roundSpread(a, b))
	}
	return t
}

// Targets evaluates the project's performance goals on this run. A target
// whose scenarios did not run (a quick run has no reads and no 5-node
// cluster) is listed as not measured.
func (r *Report) Targets() []Target {
	var out []Target
	w := r.writeRow
	for _, c := range []int{64, 256} {
		out = append(out, throughputTarget(fmt.Sprintf("write throughput vs hashicorp, %d clients", c), hashicorpGoal,
			w(harness.HeadlineJangada, c), w(harness.HeadlineHashicorp, c)))
	}
	for _, c := range []int{64, 256} {
		out = append(out, throughputTarget(fmt.Sprintf("write throughput vs bare etcd-raft, %d clients", c), etcdGoal,
			w(harness.HeadlineJangada, c), w(harness.HeadlineEtcd, c)))
	}
	for _, c := range []int{1, 64, 256} {
		goal := transportGoal
		if c == 1 {
			goal = transportGoal1
		}
		out = append(out, throughputTarget(fmt.Sprintf("transport-quic vs transport-mem (memory store), %d clients", c), goal,
			w("jangada/quic+memory", c), w("jangada/mem+memory", c)))
	}
	t := Target{Name: "single-client p50 latency vs hashicorp", Goal: fmt.Sprintf("≤ %.1f×", latencyGoal)}
	j1 := w(harness.HeadlineJangada, 1)
	if h := w(harness.HeadlineHashicorp, 1); j1 != nil && h != nil && h.P50 > 0 {
		t.Value, t.Known = float64(j1.P50)/float64(h.P50), true
		t.Met = t.Value <= latencyGoal
		t.Detail = fmt.Sprintf("%s vs %s", harness.FormatDuration(j1.P50), harness.FormatDuration(h.P50))
	}
	out = append(out, t)
	t = Target{Name: "single-client p50 latency vs the fsync floor", Goal: fmt.Sprintf("≤ %.1f×", fsyncLatencyGoal)}
	if j1 != nil && r.Fsync.P50 > 0 {
		t.Value, t.Known = float64(j1.P50)/float64(r.Fsync.P50), true
		t.Met = t.Value <= fsyncLatencyGoal
		t.Detail = fmt.Sprintf("%s vs %s (4 KiB write + fdatasync)", harness.FormatDuration(j1.P50), harness.FormatDuration(r.Fsync.P50))
	}
	out = append(out, t)
	read := func(system string, kind harness.ReadKind) *harness.Row {
		return r.row(harness.Key{Scenario: harness.ReadScenario(kind), System: system, Nodes: 3, Size: 64, Clients: harness.HeadlineClients})
	}
	hRead := read(harness.HeadlineHashicorp, harness.ReadIndex)
	out = append(out,
		throughputTarget("ReadIndex reads vs hashicorp's linearizable reads, 64 clients", readGoal, read(harness.HeadlineJangada, harness.ReadIndex), hRead),
		throughputTarget("lease reads vs hashicorp's linearizable reads, 64 clients", leaseGoal, read(harness.HeadlineJangada, harness.ReadLease), hRead))
	t = Target{Name: "CPU per 1,000 writes vs hashicorp, 64 clients", Goal: fmt.Sprintf("≤ %.1f×", cpuGoal)}
	if j, h := w(harness.HeadlineJangada, 64), w(harness.HeadlineHashicorp, 64); j != nil && h != nil && j.CPUPer1k() > 0 && h.CPUPer1k() > 0 {
		t.Value, t.Known = j.CPUPer1k()/h.CPUPer1k(), true
		t.Met = t.Value <= cpuGoal
		t.Detail = fmt.Sprintf("%.3f vs %.3f CPU-seconds", j.CPUPer1k(), h.CPUPer1k())
	}
	out = append(out, t)
	five := func(system string) *harness.Row {
		return r.row(harness.Key{Scenario: harness.ScenarioWrite, System: system, Nodes: 5, Size: 4096, Clients: harness.HeadlineClients})
	}
	t = throughputTarget("write throughput vs hashicorp, 5 nodes, 4 KiB, 64 clients", fiveNodeGoal,
		five(harness.HeadlineJangada), five(harness.HeadlineHashicorp))
	if wal, h := five(harness.WALSystem), five(harness.HeadlineHashicorp); t.Known && wal != nil {
		t.Detail += fmt.Sprintf("; with store-wal: %.0f ops/s = %.2f×", wal.OpsPerSec, wal.OpsPerSec/h.OpsPerSec)
	}
	return append(out, t)
}

// Write writes report.md, results.csv and the charts into the output
// directory, and the Markdown report to Config.ResultsMD when set.
func (r *Report) Write() error {
	if err := os.MkdirAll(r.Config.OutDir, 0o755); err != nil {
		return err
	}
	charts, err := WriteCharts(r.Config.OutDir, r.Results)
	if err != nil {
		return err
	}
	r.Charts = charts
	if err := writeFile(filepath.Join(r.Config.OutDir, "results.csv"), func(w io.Writer) error { return WriteCSV(w, r.Results) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(r.Config.OutDir, "report.md"), func(w io.Writer) error { return r.WriteMarkdown(w, "") }); err != nil {
		return err
	}
	if r.Config.ResultsMD != "" {
		rel, err := filepath.Rel(filepath.Dir(r.Config.ResultsMD), r.Config.OutDir)
		if err != nil {
			rel = r.Config.OutDir
		}
		return writeFile(r.Config.ResultsMD, func(w io.Writer) error { return r.WriteMarkdown(w, filepath.ToSlash(rel)+"/") })
	}
	return nil
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := fn(w); err != nil {
		_ = f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// csvHeader names the columns of results.csv.
var csvHeader = []string{
	"scenario", "system", "family", "durable", "nodes", "size_bytes", "clients", "state_bytes", "rounds",
	"ops", "elapsed_s", "ops_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "mean_us", "errors",
	"cpu_s_per_1k_ops", "peak_rss_bytes", "time_median_ms", "elected_median_ms", "not_measured",
}

// WriteCSV writes every row of rs, one line per cell, raw numbers only.
func WriteCSV(w io.Writer, rs *harness.Results) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	us := func(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
	ms := func(d time.Duration) string { return f(float64(d.Microseconds()) / 1000) }
	for _, r := range rs.Rows() {
		rec := []string{
			r.Scenario, r.System, r.Family, strconv.FormatBool(r.Durable), strconv.Itoa(r.Nodes), strconv.Itoa(r.Size),
			strconv.Itoa(r.Clients), strconv.FormatInt(r.StateBytes, 10), strconv.Itoa(r.Rounds),
			strconv.FormatInt(r.Ops, 10), f(r.Elapsed.Seconds()), f(r.OpsPerSec), f(r.MBPerSec),
			us(r.P50), us(r.P99), us(r.P999), us(r.Mean), strconv.FormatInt(r.Errors, 10),
			f(r.CPUPer1k()), strconv.FormatInt(r.PeakRSS, 10), ms(r.MedianTime()), ms(r.MedianElected()), r.NotMeasured,
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteMarkdown writes the report; chartPrefix is prepended to chart file
// names (the path from the Markdown file to the output directory).
func (r *Report) WriteMarkdown(w io.Writer, chartPrefix string) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	cfg := r.Config
	p("# jangada benchmark report\n\n")
	p("Command: `%s`  \n", r.Command)
	p("Run: %s → %s (%s)  \n", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), r.Finished.UTC().Format("15:04:05 UTC"),
		r.Finished.Sub(r.Started).Round(time.Second))
	m := r.Machine
	p("Machine: %s, %d CPUs (GOMAXPROCS %d), %s RAM, %s, %s; results on %s  \n", orUnknown(m.CPU), m.CPUs, m.GOMAXPROCS, orUnknown(m.Memory), orUnknown(m.Kernel), m.Go, m.Filesystem)
	p("Load average (1/5/15 min, runnable/total, last pid): before `%s`, after `%s`  \n", r.LoadBefore, r.LoadAfter)
	p("Window per measured run: %s warm-up + %s measured, %d round(s) (the target cells: %d), systems alternating within every scenario group.  \n",
		cfg.Warmup, cfg.Duration, cfg.Rounds, cfg.TargetRounds)
	if cfg.ClusterWarmup > 0 {
		p("Every newly started cluster first takes %s of unmeasured writes from %d clients, so that each system is measured in its steady state, not while its process and store warm up.\n\n",
			cfg.ClusterWarmup, harness.HeadlineClients)
	} else {
		p("Clusters are measured from their start, without a warm-up of their own.\n\n")
	}
	p("CPU frequency (mean of /proc/cpuinfo): before %s, after %s; CPU time stolen by the hypervisor during the run: %s  \n",
		formatMHz(r.CPUBefore.MHz), formatMHz(r.CPUAfter.MHz), formatShare(harness.StealShare(r.CPUBefore, r.CPUAfter)))
	p("**fsync floor** (%d B append + fdatasync, %d samples, in the results directory's filesystem): p50 %s, p99 %s",
		r.Fsync.BlockSize, r.Fsync.Samples, harness.FormatDuration(r.Fsync.P50), harness.FormatDuration(r.Fsync.P99))
	if r.FsyncAfter.Samples > 0 {
		p(" before the run, p50 %s, p99 %s after it", harness.FormatDuration(r.FsyncAfter.P50), harness.FormatDuration(r.FsyncAfter.P99))
	}
	p(". No durable system can acknowledge a write faster than one of these; group commit is how throughput exceeds 1/p50.\n\n")

	p("## Targets (durable, 3 nodes, 64 B, one run)\n\n")
	p("Each ratio merges %d alternating rounds of both systems; the figures column also gives the lowest and highest ratio of a single round, "+
		"which shows how much one short run on this machine can move.\n\n", cfg.TargetRounds)
	p("| target | goal | measured | met | figures |\n|---|---|---|---|---|\n")
	for _, t := range r.Targets() {
		if !t.Known {
			p("| %s | %s | not measured | - | - |\n", t.Name, t.Goal)
			continue
		}
		p("| %s | %s | %.2f× | %s | %s |\n", t.Name, t.Goal, t.Value, yesNo(t.Met), t.Detail)
	}
	p("\n")
	if ex := r.Explanations(); len(ex) > 0 {
		p("Where a target is missed, the same run's figures say where the difference goes:\n\n")
		for _, e := range ex {
			p("- %s\n", e)
		}
		p("\n")
	}

	rows := r.Results.Rows()
	pick := func(scenario string, nodes int) []*harness.Row {
		var out []*harness.Row
		for _, row := range rows {
			if row.Scenario == scenario && (nodes == 0 || row.Nodes == nodes) {
				out = append(out, row)
			}
		}
		return out
	}
	throughputTable := func(title string, rs []*harness.Row) {
		if len(rs) == 0 {
			return
		}
		p("## %s\n\n", title)
		p("| system | durable | nodes | size | clients | ops/s | MB/s | p50 | p99 | p99.9 | CPU s / 1k ops | peak RSS | errors |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range rs {
			if row.NotMeasured != "" {
				p("| %s | %s | %d | %s | %d | not measured: %s | | | | | | | |\n", displayName(row), yesNo(row.Durable), row.Nodes, harness.FormatBytes(int64(row.Size)), row.Clients, row.NotMeasured)
				continue
			}
			p("| %s | %s | %d | %s | %d | %.0f | %.2f | %s | %s | %s | %.3f | %s | %d |\n",
				displayName(row), yesNo(row.Durable), row.Nodes, harness.FormatBytes(int64(row.Size)), row.Clients, row.OpsPerSec, row.MBPerSec,
				harness.FormatDuration(row.P50), harness.FormatDuration(row.P99), harness.FormatDuration(row.P999), row.CPUPer1k(), harness.FormatBytes(row.PeakRSS), row.Errors)
		}
		p("\n")
	}
	writes3 := pick(harness.ScenarioWrite, 3)
	slices.SortStableFunc(writes3, func(a, b *harness.Row) int {
		if a.Size != b.Size {
			return a.Size - b.Size
		}
		return a.Clients - b.Clients
	})
	throughputTable("Writes, 3 nodes", writes3)
	var larger []*harness.Row
	for _, row := range pick(harness.ScenarioWrite, 0) {
		if row.Nodes != 3 {
			larger = append(larger, row)
		}
	}
	throughputTable("Writes, larger clusters", larger)
	throughputTable("Linearizable reads (ReadIndex), 3 nodes", pick(harness.ReadScenario(harness.ReadIndex), 3))
	throughputTable("Linearizable reads (lease), 3 nodes", pick(harness.ReadScenario(harness.ReadLease), 3))
	throughputTable("Stale (local) reads, 3 nodes", pick(harness.ReadScenario(harness.ReadStale), 3))
	throughputTable("Library API vs kvstore HTTP API (kvstore Machine, jangada quic+pebble, 3 nodes)",
		append(pick(harness.ScenarioAPILibrary, 0), pick(harness.ScenarioAPIHTTP, 0)...))

	if rs := pick(harness.ScenarioFailover, 0); len(rs) > 0 {
		p("## Failover after killing the leader (3 nodes)\n\n")
		p("The leader is closed abruptly (no hand-off); times run from the kill. Election timeout 1s for every system.\n\n")
		p("| system | trials | new leader known (median) | first write committed (median) | all trials |\n|---|---|---|---|---|\n")
		for _, row := range rs {
			if row.NotMeasured != "" {
				p("| %s | 0 | not measured: %s | | |\n", row.System, row.NotMeasured)
				continue
			}
			p("| %s | %d | %s | %s | %s |\n", row.System, len(row.Times), harness.FormatDuration(row.MedianElected()), harness.FormatDuration(row.MedianTime()), fmtDurs(row.Times))
		}
		p("\n")
	}
	if rs := pick(harness.ScenarioCatchUp, 0); len(rs) > 0 {
		p("## Snapshot catch-up (3 nodes, durable systems)\n\n")
		p("State built with 64 KiB commands while the third node is down; every running node snapshots and compacts; " +
			"the time runs from starting the third node until it has applied everything (snapshot transfer, install, restore).\n\n")
		p("| system | state | catch-up time | peak RSS |\n|---|---|---|---|\n")
		for _, row := range rs {
			if row.NotMeasured != "" {
				p("| %s | %s | not measured: %s | |\n", row.System, harness.FormatBytes(row.StateBytes), row.NotMeasured)
				continue
			}
			p("| %s | %s | %s | %s |\n", row.System, harness.FormatBytes(row.StateBytes), harness.FormatDuration(row.MedianTime()), harness.FormatBytes(row.PeakRSS))
		}
		p("\n")
	}
	if len(r.Charts) > 0 {
		p("## Scaling curves\n\n")
		for _, c := range r.Charts {
			p("![%s](%s%s)\n\n", strings.TrimSuffix(c, ".png"), chartPrefix, c)
		}
	}
	for _, pr := range r.Profiles {
		p("## CPU profile: %s\n\n", pr.Scenario)
		p("Profile file: `%s%s` (`go tool pprof -top %s%s`).\n\n", chartPrefix, pr.File, chartPrefix, pr.File)
		p("| area | share of CPU |\n|---|---|\n")
		for _, a := range pr.ByArea {
			p("| %s | %.1f%% |\n", a.Function, a.Flat*100)
		}
		p("\n| top functions (flat) | flat | cum |\n|---|---|---|\n")
		for _, e := range pr.TopFlat {
			p("| `%s` | %.1f%% | %.1f%% |\n", e.Function, e.Flat*100, e.Cum*100)
		}
		p("\n| top functions (cumulative) | flat | cum |\n|---|---|---|\n")
		for _, e := range pr.TopCum {
			p("| `%s` | %.1f%% | %.1f%% |\n", e.Function, e.Flat*100, e.Cum*100)
		}
		p("\n")
	}
	p("## Systems and tuning\n\n")
	p("Every system runs its nodes in this one process, clients call the leader directly, the state machine only counts commands, and the election timeout is 1s everywhere.\n\n")
	seen := map[string]bool{}
	for _, s := range r.Systems {
		p("- **%s** (durable: %s)", s.Name, yesNo(s.Durable))
		if !seen[s.Tuning] {
			seen[s.Tuning] = true
			p(": %s", s.Tuning)
		} else {
			p(": as above")
		}
		p("\n")
	}
	p("\n## Not measured\n\n")
	for _, n := range r.notMeasured() {
		p("- %s\n", n)
	}
	p("\n## Reading these figures\n\n")
	for _, c := range r.caveats() {
		p("- %s\n", c)
	}
	return nil
}

// caveats are what a reader needs to know to compare the figures of any
// report.
func (r *Report) caveats() []string {
	cfg := r.Config
	return []string{
		fmt.Sprintf("Rounds: the target cells ran %d alternating rounds of %s each, every other cell %d. On a 2-CPU machine shared with other work "+
			"a single round moves by 15%% or more (hashicorp's durable writes at 64 clients have ranged from 5.5k to 10k ops/s between runs of one day): "+
			"compare ratios within one report, never figures across reports.", cfg.TargetRounds, cfg.Duration, cfg.Rounds),
		"All nodes and clients of a cluster share one process and its CPUs, so closed-loop clients compete with the nodes for the scheduler; " +
			"in a deployment the clients run elsewhere and the nodes on separate machines, each with its own disk.",
		peakRSSNote(cfg),
		fmt.Sprintf("%s is a diagnostic, not a store: it cannot recover. It shows roughly how much the store and the transport leave on the table, "+
			"but on this virtual disk it is not a strict bound: overwriting a file of zeros written just before the run can cost more per fdatasync "+
			"than pebble's WAL, so in some rounds jangada/mem+pebble beats it.", harness.FsyncFloorSystem),
		"Go micro-benchmarks of the engine and the transports (`make bench-micro`) are in bench/MICROBENCH.md.",
	}
}

// notMeasured lists what this report has no figures for, and why.
func (r *Report) notMeasured() []string {
	out := []string{
		"dragonboat: not served by the module proxy available to this project.",
		"hashicorp/raft lease reads: the library has no lease-read API (its linearizable read, VerifyLeader then waiting for the FSM to reach the commit index as Consul does, is reported as ReadIndex).",
	}
	for _, g := range r.Config.Skip {
		out = append(out, fmt.Sprintf("scenario group %q: skipped in this run (-skip or -quick).", g))
	}
	if !r.Config.LargeSnapshot && !r.Config.Skips("catchup") {
		out = append(out, "512 MiB snapshot catch-up: opt-in (-large-snapshot, which make bench sets); it adds about 7 minutes on this machine.")
	}
	for _, row := range r.Results.Rows() {
		if row.NotMeasured != "" && !strings.Contains(row.System, "hashicorp") {
			out = append(out, fmt.Sprintf("%s %s (%d nodes, %d clients): %s", row.System, row.Scenario, row.Nodes, row.Clients, row.NotMeasured))
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func fmtDurs(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, harness.FormatDuration(d))
	}
	return strings.Join(parts, ", ")
}

func formatMHz(mhz float64) string {
	if mhz <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MHz", mhz)
}

func formatShare(v float64) string {
	if v < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

// peakRSSNote says what the peak RSS column measures in this run.
func peakRSSNote(cfg harness.Config) string {
	if len(cfg.Isolate) > 0 {
		return "Every cluster ran in a process of its own (with its closed-loop clients), so peak RSS, CPU time and garbage collection " +
			"are that cluster's alone; `-in-process` runs them all in the harness's process instead."
	}
	return "Every cluster ran in the harness's process (-in-process): peak RSS is the whole process's, reset before each cluster starts " +
		"(after a forced GC). Memory the process took earlier is not always returned to the system (the etcd-raft rows keep it in the " +
		"gigabytes), so read RSS after the first etcd-raft row as an upper bound."
}
