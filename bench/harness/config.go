package harness

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Config chooses what a run measures. The zero value of every field takes
// the default of a full run (see Defaults); Quick narrows it to the headline.
type Config struct {
	// OutDir receives report.md, results.csv and the charts. Default:
	// "results" under the bench module.
	OutDir string
	// ResultsMD, when set, also receives the Markdown report (RESULTS.md).
	ResultsMD string
	// Quick runs the headline scenarios only: the durable trio, 3 nodes,
	// 64 B, 1/64/256 clients, writes.
	Quick bool
	// Warmup and Duration time every measured run. Defaults: 0.5s and 2s
	// (quick: 0.5s and 1.5s).
	Warmup   time.Duration
	Duration time.Duration
	// ClusterWarmup is how long a newly started cluster takes writes from
	// HeadlineClients clients before its first measured run, unmeasured, so
	// that every system is measured in its steady state: a fresh process
	// first pays for page faults on memory it touches for the first time
	// and a heap that is still growing, and a store for its first memtables
	// and log files (jangada/quic+pebble at 64 clients here: 37k writes/s
	// after 0.5s, 44k after 2s, 47k after 4s). Default: 3s; negative turns
	// it off.
	ClusterWarmup time.Duration
	// Rounds repeats every scenario, alternating the order of systems
	// between rounds; figures merge the rounds. Default: 1 (quick: 2).
	Rounds int
	// TargetRounds is how many rounds measure the target cells: the
	// headline systems' (and the fsync floor's) writes at 3 nodes, 64 B and
	// 1, 64 and 256 clients. Rounds beyond Rounds run those cells only, so the target
	// ratios rest on several alternating rounds at little cost. Default: 5
	// (quick: 3); never fewer than Rounds.
	TargetRounds int
	// Systems selects systems by name, family or "headline". Default: all
	// (quick: headline).
	Systems []string
	// Clients, Sizes: the write and read matrix at 3 nodes. Defaults:
	// 1,16,64,256 and 64,4096.
	Clients []int
	Sizes   []int
	// PayloadCurve is the payload sizes of the throughput-vs-size curve,
	// measured for the headline systems at 64 clients. Default: 64 B to 64 KiB.
	PayloadCurve []int
	// ClusterSizes are measured at 64 clients and 64 B: 5 nodes for every
	// system (and the whole Sizes x Clients matrix for the headline systems),
	// larger clusters for the headline systems. Default: 5,7.
	ClusterSizes []int
	// SnapshotSizes is the state sizes of the catch-up scenario. Default:
	// 64 MiB; LargeSnapshot adds 512 MiB.
	SnapshotSizes []int64
	LargeSnapshot bool
	// FailoverTrials is how many leader kills are timed per system. Default: 2.
	FailoverTrials int
	// Skip lists scenario groups not to run: write, read, lease, failover,
	// catchup, scaling, api, profile.
	Skip []string
	// Command is how the run was started, printed in the report. Default:
	// "go run ./bench/cmd/bench".
	Command string
	// Progress receives one line per finished step. Default: discard.
	Progress io.Writer
	// Isolate is the command (program and arguments) that runs one job in a
	// process of its own, reading the job on standard input and writing its
	// results on standard output (cmd/bench runs itself with -run-job): peak
	// RSS, CPU time and garbage are then one cluster's alone. Empty: jobs
	// run in this process.
	Isolate []string
	// InProcess asks the command for no Isolate (profiling, debugging): peak
	// RSS is then the whole harness process's.
	InProcess bool
}

// Scenario groups that Skip can name.
var ScenarioGroups = []string{"write", "read", "lease", "failover", "catchup", "scaling", "api", "profile"}

// WithDefaults returns cfg with every zero field set to its default.
func (c Config) WithDefaults() Config {
	setDur := func(v *time.Duration, full, quick time.Duration) {
		if *v == 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	setDur(&c.Warmup, 500*time.Millisecond, 500*time.Millisecond)
	setDur(&c.ClusterWarmup, 3*time.Second, 3*time.Second)
	setDur(&c.Duration, 2*time.Second, 1500*time.Millisecond)
	if c.Rounds == 0 {
		c.Rounds = 1
		if c.Quick {
			c.Rounds = 2
		}
	}
	if c.TargetRounds == 0 {
		c.TargetRounds = 5
		if c.Quick {
			c.TargetRounds = 3
		}
	}
	c.TargetRounds = max(c.TargetRounds, c.Rounds)
	if c.Quick && len(c.Systems) == 0 {
		// The in-memory pairs and the ceilings say where the transport's
		// share of the headline goes, store-wal the store's.
		c.Systems = []string{"headline", FsyncFloorSystem, WALSystem, "jangada/quic+memory", "jangada/mem+memory", FamilyCeiling}
	}
	if len(c.Clients) == 0 {
		c.Clients = []int{1, 16, 64, 256}
		if c.Quick {
			c.Clients = []int{1, 64, 256}
		}
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int{64, 4096}
		if c.Quick {
			c.Sizes = []int{64}
		}
	}
	if len(c.PayloadCurve) == 0 {
		c.PayloadCurve = []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10}
	}
	if len(c.ClusterSizes) == 0 {
		c.ClusterSizes = []int{5, 7}
	}
	if len(c.SnapshotSizes) == 0 {
		c.SnapshotSizes = []int64{64 << 20}
		if c.LargeSnapshot {
			c.SnapshotSizes = append(c.SnapshotSizes, 512<<20)
		}
	}
	if c.FailoverTrials == 0 {
		c.FailoverTrials = 2
	}
	if c.Quick {
		for _, g := range []string{"read", "lease", "failover", "catchup", "scaling", "api", "profile"} {
			if !c.Skips(g) {
				c.Skip = append(c.Skip, g)
			}
		}
	}
	if c.Command == "" {
		c.Command = "go run ./bench/cmd/bench"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate reports the first problem with c (after defaults). Which system
// names exist is the adapters' business: bench.Validate also checks those.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Warmup < 0, c.Duration <= 0:
		return fmt.Errorf("%w: durations must be positive", ErrInvalidConfig)
	case c.Rounds < 1, c.TargetRounds < 1, c.FailoverTrials < 1:
		return fmt.Errorf("%w: rounds, target rounds and failover trials must be at least 1", ErrInvalidConfig)
	}
	for _, s := range c.Skip {
		if !slices.Contains(ScenarioGroups, s) {
			return fmt.Errorf("%w: unknown scenario group %q (want one of %s)", ErrInvalidConfig, s, strings.Join(ScenarioGroups, ","))
		}
	}
	for _, n := range c.ClusterSizes {
		if n < 3 || n > 9 {
			return fmt.Errorf("%w: cluster size %d outside 3..9", ErrInvalidConfig, n)
		}
	}
	for _, s := range append(append([]int{}, c.Sizes...), c.PayloadCurve...) {
		if s > 1<<20 {
			return fmt.Errorf("%w: command size %d is over 1 MiB", ErrInvalidConfig, s)
		}
	}
	return nil
}

func (c Config) Skips(group string) bool { return slices.Contains(c.Skip, group) }
