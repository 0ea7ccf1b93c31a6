package bench

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

// ParseFlags parses command-line arguments into a harness.Config.
func ParseFlags(args []string, output io.Writer) (harness.Config, error) {
	var cfg harness.Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.OutDir, "out", "", "directory for report.md, results.csv and charts (default: the bench module's results/)")
	fs.StringVar(&cfg.ResultsMD, "results-md", "", "also write the Markdown report to this file (e.g. bench/RESULTS.md)")
	fs.BoolVar(&cfg.Quick, "quick", false, "headline scenarios only (durable trio, 3 nodes, 64 B, writes)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up before each measured run (default 0.5s)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "length of each measured run (default 2s, quick 1.5s)")
	fs.DurationVar(&cfg.ClusterWarmup, "cluster-warmup", 0, "unmeasured writes from 64 clients on every new cluster before its first measured run, for steady state (default 3s; negative: none)")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "repeat every scenario, alternating system order (default 1, quick 2)")
	fs.IntVar(&cfg.TargetRounds, "target-rounds", 0, "rounds of the target cells (headline durable writes, 3 nodes, 64 B, 1/64/256 clients) (default 5, quick 3)")
	systems := fs.String("systems", "", "comma-separated systems, families or 'headline' (default all)")
	clients := fs.String("clients", "", "comma-separated client counts (default 1,16,64,256)")
	sizes := fs.String("sizes", "", "comma-separated command sizes in bytes (default 64,4096)")
	curve := fs.String("payload-curve", "", "comma-separated payload sizes of the size curve (default 64..65536)")
	clusterSizes := fs.String("cluster-sizes", "", "comma-separated extra cluster sizes (default 5,7)")
	fs.BoolVar(&cfg.LargeSnapshot, "large-snapshot", false, "also measure snapshot catch-up of 512 MiB of state")
	fs.BoolVar(&cfg.InProcess, "in-process", false, "run every cluster in this process, not each in its own (peak RSS is then the harness's)")
	fs.IntVar(&cfg.FailoverTrials, "failover-trials", 0, "leader kills timed per system (default 2)")
	skip := fs.String("skip", "", "comma-separated scenario groups to skip: "+strings.Join(harness.ScenarioGroups, ","))
	if err := fs.Parse(args); err != nil {
		return harness.Config{}, fmt.Errorf("%w: %w", harness.ErrInvalidConfig, err)
	}
	if fs.NArg() > 0 {
		return harness.Config{}, fmt.Errorf("%w: unexpected arguments %q", harness.ErrInvalidConfig, fs.Args())
	}
	var err error
	cfg.Systems = splitList(*systems)
	cfg.Skip = splitList(*skip)
	if cfg.Clients, err = parseInts("clients", *clients); err != nil {
		return harness.Config{}, err
	}
	if cfg.Sizes, err = parseInts("sizes", *sizes); err != nil {
		return harness.Config{}, err
	}
	if cfg.PayloadCurve, err = parseInts("payload-curve", *curve); err != nil {
		return harness.Config{}, err
	}
	if cfg.ClusterSizes, err = parseInts("cluster-sizes", *clusterSizes); err != nil {
		return harness.Config{}, err
	}
	cfg = cfg.WithDefaults()
	return cfg, Validate(cfg)
}

// Validate reports the first problem with cfg (after defaults): those
// harness.Config.Validate finds, then a system pattern that matches none of
// the adapters' systems.
func Validate(cfg harness.Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := harness.SelectSystems(adapters.Systems(), cfg.Systems); err != nil {
		return err
	}
	return nil
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
			return nil, fmt.Errorf("%w: -%s: %q is not a positive integer", harness.ErrInvalidConfig, name, f)
		}
		out = append(out, v)
	}
	return out, nil
}
