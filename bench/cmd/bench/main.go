// Command bench runs jangada's benchmark harness: it compares jangada's
// transports and stores with hashicorp/raft and a bare etcd-raft loop, and
// writes a Markdown report, CSV and PNG charts.
//
//	go run ./bench/cmd/bench -results-md bench/RESULTS.md  # full run, about 25 minutes
//	go run ./bench/cmd/bench -quick     # headline only, about four minutes; results/quick/
//	go run ./bench/cmd/bench -h         # every option
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/jangada-io/jangada/bench"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == runJobFlag {
		// One job of a parent run, in a process of its own.
		if err := bench.RunJob(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := bench.ParseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	moduleDir := benchModuleDir()
	if cfg.OutDir == "" {
		// A quick run keeps its own directory, so that it never mixes its
		// charts into the full report that RESULTS.md points to.
		cfg.OutDir = filepath.Join(moduleDir, "results")
		if cfg.Quick {
			cfg.OutDir = filepath.Join(cfg.OutDir, "quick")
		}
	}
	cfg.Progress = os.Stderr
	if !cfg.InProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("cannot run jobs in processes of their own: %w", err)
		}
		cfg.Isolate = []string{exe, runJobFlag}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg.Command = strings.TrimSpace("go run ./bench/cmd/bench " + strings.Join(args, " "))
	report, err := bench.Run(ctx, cfg)
	if report != nil {
		fmt.Printf("report: %s\n", filepath.Join(cfg.OutDir, "report.md"))
		for _, t := range report.Targets() {
			if t.Known {
				fmt.Printf("target %s (%s): %.2f× met=%v (%s)\n", t.Name, t.Goal, t.Value, t.Met, t.Detail)
			} else {
				fmt.Printf("target %s (%s): not measured in this run\n", t.Name, t.Goal)
			}
		}
		if ratio, ok := report.HeadlineRatio(); ok {
			rounds := ""
			if m, ok := report.HeadlineRoundMedian(); ok {
				rounds = fmt.Sprintf("; median single round %.2f", m)
			}
			fmt.Printf("headline: jangada/hashicorp write throughput ratio=%.2f (64 clients, 3 nodes, durable, 64 B%s)\n", ratio, rounds)
		} else {
			fmt.Println("headline: jangada/hashicorp write throughput ratio=not measured (64 clients, 3 nodes, durable, 64 B)")
		}
	}
	return err
}

// runJobFlag makes the program run one job read from standard input.
const runJobFlag = "-run-job"

// benchModuleDir finds the bench module from the working directory: the
// repository root (make bench, go run ./bench/cmd/bench) or the module.
func benchModuleDir() string {
	if _, err := os.Stat(filepath.Join("bench", "go.mod")); err == nil {
		return "bench"
	}
	return "."
}
