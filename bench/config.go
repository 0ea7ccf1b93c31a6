package bench

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
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
}

// Scenario groups that Skip can name.
var scenarioGroups = []string{"write", "read", "lease", "failover", "catchup", "scaling", "api", "profile"}

// ParseFlags parses command-line arguments into a Config.
func ParseFlags(args []string, output io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.OutDir, "out", "", "directory for report.md, results.csv and charts (default: the bench module's results/)")
	fs.StringVar(&cfg.ResultsMD, "results-md", "", "also write the Markdown report to this file (e.g. bench/RESULTS.md)")
	fs.BoolVar(&cfg.Quick, "quick", false, "headline scenarios only (durable trio, 3 nodes, 64 B, writes)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up before each measured run (default 0.5s)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "length of each measured run (default 2s, quick 1.5s)")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "repeat every scenario, alternating system order (default 1, quick 2)")
	fs.IntVar(&cfg.TargetRounds, "target-rounds", 0, "rounds of the target cells (headline durable writes, 3 nodes, 64 B, 1/64/256 clients) (default 5, quick 3)")
	systems := fs.String("systems", "", "comma-separated systems, families or 'headline' (default all)")
	clients := fs.String("clients", "", "comma-separated client counts (default 1,16,64,256)")
	sizes := fs.String("sizes", "", "comma-separated command sizes in bytes (default 64,4096)")
	curve := fs.String("payload-curve", "", "comma-separated payload sizes of the size curve (default 64..65536)")
	clusterSizes := fs.String("cluster-sizes", "", "comma-separated extra cluster sizes (default 5,7)")
	fs.BoolVar(&cfg.LargeSnapshot, "large-snapshot", false, "also measure snapshot catch-up of 512 MiB of state")
	fs.IntVar(&cfg.FailoverTrials, "failover-trials", 0, "leader kills timed per system (default 2)")
	skip := fs.String("skip", "", "comma-separated scenario groups to skip: "+strings.Join(scenarioGroups, ","))
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected arguments %q", ErrInvalidConfig, fs.Args())
	}
	var err error
	cfg.Systems = splitList(*systems)
	cfg.Skip = splitList(*skip)
	if cfg.Clients, err = parseInts("clients", *clients); err != nil {
		return Config{}, err
	}
	if cfg.Sizes, err = parseInts("sizes", *sizes); err != nil {
		return Config{}, err
	}
	if cfg.PayloadCurve, err = parseInts("payload-curve", *curve); err != nil {
		return Config{}, err
	}
	if cfg.ClusterSizes, err = parseInts("cluster-sizes", *clusterSizes); err != nil {
		return Config{}, err
	}
	cfg = cfg.WithDefaults()
	return cfg, cfg.Validate()
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(name, s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: -%s: %q is not a positive integer", ErrInvalidConfig, name, f)
		}
		out = append(out, v)
	}
	return out, nil
}

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
		c.Systems = []string{"headline", FsyncFloorSystem}
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
			if !c.skips(g) {
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

// Validate reports the first problem with c (after defaults).
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Warmup < 0, c.Duration <= 0:
		return fmt.Errorf("%w: durations must be positive", ErrInvalidConfig)
	case c.Rounds < 1, c.TargetRounds < 1, c.FailoverTrials < 1:
		return fmt.Errorf("%w: rounds, target rounds and failover trials must be at least 1", ErrInvalidConfig)
	}
	for _, s := range c.Skip {
		if !slices.Contains(scenarioGroups, s) {
			return fmt.Errorf("%w: unknown scenario group %q (want one of %s)", ErrInvalidConfig, s, strings.Join(scenarioGroups, ","))
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
	if _, err := SelectSystems(Systems(), c.Systems); err != nil {
		return err
	}
	return nil
}

func (c Config) skips(group string) bool { return slices.Contains(c.Skip, group) }
