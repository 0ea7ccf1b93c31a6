package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

// A job runs in a process of its own when Config.Isolate is set: the
// parent writes a jobSpec to the child's standard input, the child runs it
// and writes one event per result to its standard output, and the parent
// records them as if it had measured them itself.

// jobSpec is a job as it crosses to a child process.
type jobSpec struct {
	Kind       jobKind
	System     string
	Spec       harness.ClusterSpec
	Items      []itemSpec
	StateBytes int64
	OutDir     string
	Warmup     time.Duration
	Duration   time.Duration
	// ClusterWarmup as in harness.Config.
	ClusterWarmup time.Duration
}

type itemSpec struct {
	Scenario string
	Size     int
	Clients  int
	Read     harness.ReadKind
}

// event is one result of a job.
type event struct {
	Kind        string // "measured", "timed" or "not-measured"
	Key         harness.Key
	Measurement *harness.Measurement `json:",omitempty"`
	PeakRSS     int64
	D, Elected  time.Duration
	Why         string
	Line        string
}

func (r *Runner) measured(k harness.Key, sys harness.System, m harness.Measurement, rss int64, line string) {
	if r.events != nil {
		r.emit(event{Kind: "measured", Key: k, Measurement: &m, PeakRSS: rss, Line: line})
		return
	}
	r.results.AddMeasurement(k, sys, m, rss)
	r.progress("%s", line)
}

func (r *Runner) timed(k harness.Key, sys harness.System, d, elected time.Duration, rss int64, line string) {
	if r.events != nil {
		r.emit(event{Kind: "timed", Key: k, D: d, Elected: elected, PeakRSS: rss, Line: line})
		return
	}
	r.results.AddTime(k, sys, d, elected, rss)
	r.progress("%s", line)
}

func (r *Runner) notMeasured(k harness.Key, sys harness.System, why, line string) {
	if r.events != nil {
		r.emit(event{Kind: "not-measured", Key: k, Why: why, Line: line})
		return
	}
	r.results.AddNotMeasured(k, sys, why)
	r.progress("%s", line)
}

func (r *Runner) emit(e event) {
	if err := r.events.Encode(e); err != nil {
		r.eventErr = errors.Join(r.eventErr, err)
	}
}

// apply records an event of a child.
func (r *Runner) apply(sys harness.System, e event) error {
	switch e.Kind {
	case "measured":
		if e.Measurement == nil {
			return errors.New("measured event without a measurement")
		}
		r.measured(e.Key, sys, *e.Measurement, e.PeakRSS, e.Line)
	case "timed":
		r.timed(e.Key, sys, e.D, e.Elected, e.PeakRSS, e.Line)
	case "not-measured":
		r.notMeasured(e.Key, sys, e.Why, e.Line)
	default:
		return fmt.Errorf("unknown event %q", e.Kind)
	}
	return nil
}

func (r *Runner) spec(j job) jobSpec {
	s := jobSpec{Kind: j.kind, System: j.system.Name, Spec: j.spec, StateBytes: j.stateBytes,
		OutDir: r.cfg.OutDir, Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, ClusterWarmup: r.cfg.ClusterWarmup}
	for _, it := range j.items {
		s.Items = append(s.Items, itemSpec{Scenario: it.scenario, Size: it.size, Clients: it.clients, Read: it.read})
	}
	return s
}

// runIsolated runs j in a child process. A child that fails leaves the
// cells it did not report as not measured, with its error.
func (r *Runner) runIsolated(ctx context.Context, j job) {
	in, err := json.Marshal(r.spec(j))
	if err != nil {
		r.failJob(j, err)
		return
	}
	cmd := exec.CommandContext(ctx, r.cfg.Isolate[0], r.cfg.Isolate[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = r.cfg.Progress
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.failJob(j, err)
		return
	}
	if err := cmd.Start(); err != nil {
		r.failJob(j, err)
		return
	}
	reported := 0
	dec := json.NewDecoder(bufio.NewReader(out))
	var decodeErr error
	for {
		var e event
		if err := dec.Decode(&e); err != nil {
			if !errors.Is(err, io.EOF) {
				decodeErr = err
				_, _ = io.Copy(io.Discard, out)
			}
			break
		}
		if err := r.apply(j.system, e); err != nil {
			decodeErr = err
		}
		reported++
	}
	if err := errors.Join(cmd.Wait(), decodeErr); err != nil || reported < j.steps() {
		if err == nil {
			err = fmt.Errorf("reported %d of %d results", reported, j.steps())
		}
		r.failJob(j, fmt.Errorf("job process: %w", err))
	}
}

// failJob marks every cell of j not measured because of err.
func (r *Runner) failJob(j job, err error) {
	var keys []harness.Key
	switch j.kind {
	case jobFailover:
		keys = []harness.Key{{Scenario: harness.ScenarioFailover, System: j.system.Name, Nodes: j.spec.Nodes, Size: 64}}
	case jobCatchUp:
		keys = []harness.Key{{Scenario: harness.ScenarioCatchUp, System: j.system.Name, Nodes: j.spec.Nodes, Size: harness.CatchUpChunk, StateBytes: j.stateBytes}}
	default:
		for _, it := range j.items {
			keys = append(keys, r.key(j, it))
		}
	}
	for _, k := range keys {
		if row := r.results.Get(k); row == nil || row.Rounds == 0 {
			r.results.AddNotMeasured(k, j.system, err.Error())
		}
	}
	fmt.Fprintf(r.cfg.Progress, "  %s: %v\n", j.system.Name, err)
}

// RunJob runs one job read from in (the parent's jobSpec) in this process
// and writes its results to out: the child side of Config.Isolate.
func RunJob(ctx context.Context, in io.Reader, out io.Writer) error {
	var s jobSpec
	if err := json.NewDecoder(in).Decode(&s); err != nil {
		return fmt.Errorf("bench: read job: %w", err)
	}
	systems, err := harness.SelectSystems(adapters.Systems(), []string{s.System})
	if err != nil || len(systems) != 1 {
		return fmt.Errorf("bench: job of unknown system %q", s.System)
	}
	j := job{kind: s.Kind, system: systems[0], spec: s.Spec, stateBytes: s.StateBytes}
	for _, it := range s.Items {
		j.items = append(j.items, item{scenario: it.Scenario, size: it.Size, clients: it.Clients, read: it.Read})
	}
	cfg := harness.Config{OutDir: s.OutDir, Warmup: s.Warmup, Duration: s.Duration, ClusterWarmup: s.ClusterWarmup, Progress: io.Discard}
	r := &Runner{cfg: cfg, results: harness.NewResults(), start: time.Now(), events: json.NewEncoder(out)}
	r.runJob(ctx, j)
	return r.eventErr
}
