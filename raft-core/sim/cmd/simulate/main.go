// Command simulate runs jangada's deterministic cluster simulation over a
// range of seeds and checks every run for safety, liveness and
// linearizability. It prints one line per seed and exits non-zero if any
// seed fails:
//
//	go run ./raft-core/sim/cmd/simulate -seeds 1-500 -nemesis all
//	go run ./raft-core/sim/cmd/simulate -seed 42 -bug stale-read
//
// A simulation holds its process's crypto/rand.Reader while it runs, so the
// command spreads a range of seeds over -procs child processes of itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jangada-io/jangada/raft-core/sim"
)

// childEnv marks a process the command started to run a chunk of seeds.
const childEnv = "JANGADA_SIMULATE_CHILD"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	base        sim.Config
	first, last uint64
	procs       int
	nemesis     string
	bug         string
	lease       string
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "the seed to run (ignored when -seeds is set)")
	seeds := fs.String("seeds", "", "a range of seeds to run, such as 1-500")
	nodes := fs.Int("nodes", 3, "initial cluster size")
	duration := fs.Duration("duration", 5*time.Second, "virtual time of workload and faults per seed")
	nemesis := fs.String("nemesis", "all", "comma list of faults to inject, all, or none")
	bug := fs.String("bug", "", "comma list of known bugs to inject: "+bugNames())
	lease := fs.String("lease", "alternate", "lease reads: alternate (odd seeds), always or never")
	clients := fs.Int("clients", 4, "concurrent virtual clients")
	keys := fs.Int("keys", 3, "keys the clients work on")
	out := fs.String("out", os.TempDir(), "directory for the trace and visualisation of failing seeds (- for none)")
	procs := fs.Int("procs", runtime.NumCPU(), "processes to spread the seeds over")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	var o options
	var err error
	nems, err := sim.ParseNemeses(*nemesis)
	if err != nil {
		return o, err
	}
	bugs, err := sim.ParseBugs(*bug)
	if err != nil {
		return o, err
	}
	leaseMode, err := sim.ParseLeaseMode(*lease)
	if err != nil {
		return o, err
	}
	o.first, o.last = *seed, *seed
	if *seeds != "" {
		if o.first, o.last, err = sim.ParseSeeds(*seeds); err != nil {
			return o, err
		}
	}
	if *nodes < 1 || *clients < 1 || *keys < 1 || *procs < 1 {
		return o, errors.New("-nodes, -clients, -keys and -procs must be at least 1")
	}
	o.base = sim.Config{Nodes: *nodes, Duration: *duration, Clients: *clients, Keys: *keys, Nemeses: nems, Bugs: bugs, Lease: leaseMode, OutDir: *out}
	o.procs, o.nemesis, o.bug, o.lease = *procs, *nemesis, *bug, *lease
	return o, o.base.Validate()
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var sum summary
	n := o.last - o.first + 1
	if o.procs == 1 || n == 1 || os.Getenv(childEnv) != "" {
		sum = runHere(ctx, o, stdout)
	} else {
		sum, err = runChildren(ctx, o, stdout)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "interrupted")
		return 1
	}
	if sum.seeds > 1 && os.Getenv(childEnv) == "" {
		fmt.Fprintf(stdout, "seeds=%d failed=%d ops/seed=%.1f faults/seed=%.1f\n", sum.seeds, sum.failed, float64(sum.ops)/float64(sum.seeds), float64(sum.faults)/float64(sum.seeds))
	}
	if sum.failed > 0 {
		return 1
	}
	return 0
}

type summary struct{ seeds, failed, ops, faults int }

func (s *summary) add(failed bool, ops, faults int) {
	s.seeds++
	s.ops += ops
	s.faults += faults
	if failed {
		s.failed++
	}
}

// runHere runs the seeds one after another in this process.
func runHere(ctx context.Context, o options, stdout io.Writer) summary {
	var sum summary
	for seed := o.first; seed <= o.last && ctx.Err() == nil; seed++ {
		cfg := o.base
		cfg.Seed = seed
		r, err := sim.Run(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			r = sim.Result{Seed: seed, Violations: []string{err.Error()}}
		}
		fmt.Fprintln(stdout, r)
		for _, v := range r.Violations {
			fmt.Fprintf(stdout, "  violation: %s\n", v)
		}
		if r.TraceFile != "" {
			fmt.Fprintf(stdout, "  trace: %s\n  history: %s\n", r.TraceFile, r.VisualizationFile)
		}
		sum.add(r.Failed(), r.Ops, r.Faults)
	}
	return sum
}

var resultLine = regexp.MustCompile(`^(PASS|FAIL) seed=\d+ ops=(\d+) faults=(\d+) `)

// runChildren splits the seeds into chunks run by o.procs child processes
// and prints each chunk's output, in seed order, once it and every chunk
// before it are done.
func runChildren(ctx context.Context, o options, stdout io.Writer) (summary, error) {
	self, err := os.Executable()
	if err != nil {
		return summary{}, fmt.Errorf("find own executable: %w", err)
	}
	n := o.last - o.first + 1
	size := max(1, min(100, n/uint64(o.procs*4)))
	type chunk struct {
		first, last uint64
		out         []byte
		err         error
		done        chan struct{}
	}
	var chunks []*chunk
	for lo := o.first; lo <= o.last; lo += size {
		chunks = append(chunks, &chunk{first: lo, last: min(lo+size-1, o.last), done: make(chan struct{})})
		if lo+size < lo { // overflow at the top of the range
			break
		}
	}
	next := make(chan *chunk)
	var wg sync.WaitGroup
	for range o.procs {
		wg.Go(func() {
			for c := range next {
				args := []string{
					"-seeds", fmt.Sprintf("%d-%d", c.first, c.last), "-procs", "1",
					"-nodes", strconv.Itoa(o.base.Nodes), "-duration", o.base.Duration.String(),
					"-clients", strconv.Itoa(o.base.Clients), "-keys", strconv.Itoa(o.base.Keys),
					"-nemesis", o.nemesis, "-bug", o.bug, "-lease", o.lease,
					"-out", o.base.OutDir,
				}
				cmd := exec.CommandContext(ctx, self, args...)
				cmd.Env = append(os.Environ(), childEnv+"=1")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				c.out, c.err = cmd.Output()
				var exit *exec.ExitError
				if errors.As(c.err, &exit) && exit.ExitCode() == 1 && stderr.Len() == 0 {
					c.err = nil // a seed failed; its lines say which
				}
				if c.err != nil {
					c.err = fmt.Errorf("seeds %d-%d: %w: %s", c.first, c.last, c.err, stderr.String())
				}
				close(c.done)
			}
		})
	}
	go func() {
		defer close(next)
		for _, c := range chunks {
			select {
			case next <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	var sum summary
	var firstErr error
	for _, c := range chunks {
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if c.err != nil && firstErr == nil {
			firstErr = c.err
		}
		stdout.Write(c.out)
		sc := bufio.NewScanner(bytes.NewReader(c.out))
		for sc.Scan() {
			if m := resultLine.FindStringSubmatch(sc.Text()); m != nil {
				ops, _ := strconv.Atoi(m[2])
				faults, _ := strconv.Atoi(m[3])
				sum.add(m[1] == "FAIL", ops, faults)
			}
		}
	}
	wg.Wait()
	return sum, firstErr
}

func bugNames() string {
	names := make([]string, len(sim.AllBugs))
	for i, b := range sim.AllBugs {
		names[i] = string(b)
	}
	return strings.Join(names, ", ")
}
