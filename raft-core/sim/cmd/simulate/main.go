// Command simulate runs jangada's deterministic cluster simulation over a
// range of seeds and checks every run for safety, liveness and
// linearizability. It prints one line per seed and exits non-zero if any
// seed fails:
//
//	go run ./raft-core/sim/cmd/simulate -seeds 1-500 -nemesis all
//	go run ./raft-core/sim/cmd/simulate -seed 42 -bug stale-read
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"github.com/jangada-io/jangada/raft-core/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "the seed to run (ignored when -seeds is set)")
	seeds := fs.String("seeds", "", "a range of seeds to run, such as 1-500")
	nodes := fs.Int("nodes", 3, "initial cluster size")
	duration := fs.Duration("duration", 5*time.Second, "virtual time of workload and faults per seed")
	nemesis := fs.String("nemesis", "all", "comma list of faults to inject, all, or none")
	bug := fs.String("bug", "", "comma list of known bugs to inject: stale-read, ack-before-fsync")
	dupProps := fs.Bool("duplicate-proposals", false, "let the duplicate nemesis duplicate forwarded proposals too")
	clients := fs.Int("clients", 4, "concurrent virtual clients")
	out := fs.String("out", os.TempDir(), "directory for the trace and visualisation of failing seeds (- for none)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run at once (their checks overlap; simulations take turns)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	nems, err := sim.ParseNemeses(*nemesis)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	bugs, err := sim.ParseBugs(*bug)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	first, last := *seed, *seed
	if *seeds != "" {
		if first, last, err = sim.ParseSeeds(*seeds); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if *nodes < 1 || *clients < 1 {
		fmt.Fprintln(stderr, "-nodes and -clients must be at least 1")
		return 2
	}
	base := sim.Config{Nodes: *nodes, Duration: *duration, Clients: *clients, Nemeses: nems, Bugs: bugs, OutDir: *out, DuplicateProposals: *dupProps}
	if err := base.Validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	results := runSeeds(ctx, base, first, last, max(1, *workers), stdout)
	failed := 0
	ops, faults := 0, 0
	for _, r := range results {
		ops += r.Ops
		faults += r.Faults
		if r.Failed() {
			failed++
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "interrupted")
		return 1
	}
	if n := len(results); n > 1 {
		fmt.Fprintf(stdout, "seeds=%d failed=%d ops/seed=%.1f faults/seed=%.1f\n", n, failed, float64(ops)/float64(n), float64(faults)/float64(n))
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// runSeeds runs seeds first..last on workers goroutines and prints each
// result, in seed order, as soon as it and every seed before it are done.
func runSeeds(ctx context.Context, base sim.Config, first, last uint64, workers int, stdout io.Writer) []sim.Result {
	n := int(last - first + 1)
	results := make([]sim.Result, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				cfg := base
				cfg.Seed = first + uint64(i)
				r, err := sim.Run(ctx, cfg)
				if err != nil {
					r = sim.Result{Seed: cfg.Seed, Violations: []string{err.Error()}}
				}
				results[i] = r
				close(done[i])
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	printed := 0
	for i := range n {
		select {
		case <-done[i]:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		r := results[i]
		fmt.Fprintln(stdout, r)
		for _, v := range r.Violations {
			fmt.Fprintf(stdout, "  violation: %s\n", v)
		}
		if r.TraceFile != "" {
			fmt.Fprintf(stdout, "  trace: %s\n  history: %s\n", r.TraceFile, r.VisualizationFile)
		}
		printed++
	}
	wg.Wait()
	return results[:printed]
}
