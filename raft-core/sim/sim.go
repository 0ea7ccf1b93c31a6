package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Result is the outcome of one simulation run.
type Result struct {
	Seed uint64
	// Ops is the number of client operations issued.
	Ops int
	// Faults is the number of faults the nemesis injected.
	Faults int
	// FaultsByKind counts the faults by nemesis.
	FaultsByKind map[Nemesis]int
	// Linearizable reports whether porcupine found the client history
	// linearizable.
	Linearizable bool
	// Trace is the hex hash of the run's event trace: equal for every run of
	// one seed and config.
	Trace string
	// ReadErrorStops counts the times a running node stopped because its
	// disk failed a read of the log (NemesisReadError), and
	// ReadErrorStartFailures the starts that failed so; each such node
	// started again later.
	ReadErrorStops, ReadErrorStartFailures int
	// Violations lists every invariant found broken, in the order found.
	Violations []string
	// VisualizationFile and TraceFile name the files written for a failing
	// run (empty when none were written).
	VisualizationFile string
	TraceFile         string
}

// Failed reports whether any check failed.
func (r Result) Failed() bool { return !r.Linearizable || len(r.Violations) > 0 }

// String is the one-line summary the simulate command prints per seed.
func (r Result) String() string {
	status := "PASS"
	if r.Failed() {
		status = "FAIL"
	}
	return fmt.Sprintf("%s seed=%d ops=%d faults=%d linearizable=%t trace=%s", status, r.Seed, r.Ops, r.Faults, r.Linearizable, r.Trace)
}

// Run simulates one seed: it builds the cluster, runs the workload and the
// nemeses on the virtual clock for cfg.Duration, heals every fault, waits up
// to cfg.HealTimeout for a write to commit and every member to converge, and
// checks the invariants and the linearizability of the client history. A
// failing run is replayed with a readable trace, which is written to
// cfg.OutDir with a porcupine visualisation of the history.
//
// The run stops at the first safety violation: past it, the cluster's state
// means nothing. Runs in one process are serialised while they simulate
// (see withSeededRand); their linearizability checks run in parallel.
//
// Run returns an error wrapping ErrInvalidConfig for a bad cfg, ctx's error
// when ctx is done first, or the error writing a failing run's files.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	out, err := simulate(ctx, cfg, false)
	if err != nil {
		return Result{}, err
	}
	res := out.result
	if !res.Failed() || cfg.OutDir == "-" {
		return res, nil
	}
	replay, err := simulate(ctx, cfg, true)
	if err != nil {
		return res, err
	}
	if replay.result.Trace != res.Trace {
		res.Violations = append(res.Violations, fmt.Sprintf("determinism: the replay's trace hash is %s, the run's %s", replay.result.Trace, res.Trace))
	}
	res.TraceFile, res.VisualizationFile, err = replay.write(cfg)
	return res, err
}

// simulation is one run's world.
type simulation struct {
	ctx          context.Context
	cfg          Config
	sched        *scheduler
	trace        *tracer
	net          *network
	check        *checker
	work         *workload
	nemesis      *nemesis
	nodes        map[uint64]*simNode
	ids          []uint64 // every node ever created, in id order
	nextID       uint64
	initialPeers []raftcore.Peer
	faults       int
	faultsByKind map[Nemesis]int
	healed       bool
	violations   []string
	events       int
	// readErrorStops and readErrorStartFailures count for
	// Result.ReadErrorStops and Result.ReadErrorStartFailures.
	readErrorStops, readErrorStartFailures int
	// active is the node whose engine the current event drives, blamed
	// when the engine panics.
	active *simNode
}

// outcome is what simulate hands back: the result and what a failing run
// writes out.
type outcome struct {
	result  Result
	history []porcupine.Operation
	info    porcupine.LinearizationInfo
	text    string
}

func simulate(ctx context.Context, cfg Config, verbose bool) (outcome, error) {
	s := &simulation{ctx: ctx, cfg: cfg, sched: newScheduler(cfg.Seed), nodes: map[uint64]*simNode{}, nextID: 1, faultsByKind: map[Nemesis]int{}}
	s.trace = newTracer(func() time.Duration { return s.sched.now }, verbose)
	s.net = newNetwork(s)
	s.check = newChecker(s)
	s.work = newWorkload(s)
	s.nemesis = newNemesis(s)
	s.sched.onPanic = s.enginePanicked
	var err error
	withSeededRand(cfg.Seed, func() {
		defer useEngineKnobs()()
		err = s.run()
	})
	if err != nil {
		return outcome{}, err
	}
	res := Result{
		Seed: cfg.Seed, Ops: s.work.ops, Faults: s.faults, FaultsByKind: s.faultsByKind, Trace: s.trace.sum(),
		ReadErrorStops: s.readErrorStops, ReadErrorStartFailures: s.readErrorStartFailures,
	}
	history := s.work.history
	var check porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if verbose {
		check, info = porcupine.CheckOperationsVerbose(kvModel, history, linearizabilityTimeout)
	} else {
		check = porcupine.CheckOperationsTimeout(kvModel, history, linearizabilityTimeout)
	}
	res.Linearizable = check == porcupine.Ok
	if check == porcupine.Illegal {
		for _, part := range kvModel.Partition(history) {
			if !porcupine.CheckOperations(kvModel, part) {
				s.violationf("linearizability: the history of key %s is not linearizable", part[0].Input.(kvInput).Key)
			}
		}
	}
	if check == porcupine.Unknown {
		s.violationf("linearizability check gave up after %v", linearizabilityTimeout)
	}
	res.Violations = s.violations
	o := outcome{result: res, history: history, info: info}
	if verbose {
		o.text = s.trace.text.String()
	}
	return o, nil
}

// linearizabilityTimeout bounds porcupine's search (wall time).
const linearizabilityTimeout = time.Minute

func (s *simulation) run() error {
	for range s.cfg.Nodes {
		n := s.addNode(false)
		s.initialPeers = append(s.initialPeers, raftcore.Peer{ID: n.id})
	}
	for _, id := range s.ids {
		s.sched.after(0, s.nodes[id].start) // as events: an engine panic is caught there
	}
	s.work.start()
	s.nemesis.start()
	var sweep func()
	sweep = func() {
		s.check.logMatching()
		s.sched.after(250*time.Millisecond, sweep)
	}
	s.sched.after(250*time.Millisecond, sweep)

	if err := s.runUntil(s.cfg.Duration, nil); err != nil {
		return err
	}
	if len(s.violations) > 0 {
		s.work.abandonPending()
		return nil
	}
	s.heal()
	// Liveness: once healed, the cluster must finish any membership change,
	// commit a write, serve reads and bring every member up to date.
	deadline := s.sched.now + s.cfg.HealTimeout
	finished := false
	var awaitMembers func()
	awaitMembers = func() {
		if s.nemesis.memberBusy {
			s.sched.after(10*time.Millisecond, awaitMembers)
			return
		}
		s.work.finalize(func() { finished = true })
	}
	awaitMembers()
	if err := s.runUntil(deadline, func() bool { return finished }); err != nil {
		return err
	}
	if len(s.violations) > 0 {
		s.work.abandonPending()
		return nil
	}
	if !finished {
		s.violationf("liveness: no write committed within %v after the faults healed", s.cfg.HealTimeout)
	} else if err := s.runUntil(deadline, s.converged); err != nil {
		return err
	} else if !s.converged() {
		s.violationf("liveness: members did not converge within %v after the faults healed: %s", s.cfg.HealTimeout, s.describeNodes())
	} else {
		s.check.noAcknowledgedWriteLost(s.runningNodes())
	}
	s.work.abandonPending()
	s.check.logMatching()
	s.work.checkStaleReads()
	s.trace.logf("end: %s", s.describeNodes())
	return nil
}

// maxEvents bounds one run. Only a message storm reaches it: raft peers
// that disagree about their logs (after a safety violation) can bounce
// rejections forever, and duplication multiplies the bouncing.
const maxEvents = 20_000_000

// runUntil runs the clock to end, until done, or until a violation is found:
// after one, the cluster's state no longer means anything. It checks ctx now
// and then.
func (s *simulation) runUntil(end time.Duration, done func() bool) error {
	stop := func() bool {
		s.events++
		if s.events%4096 == 0 && s.ctx.Err() != nil {
			return true
		}
		if s.events > maxEvents {
			s.violationf("event budget of %d exhausted: message storm", maxEvents)
		}
		return len(s.violations) > 0 || (done != nil && done())
	}
	s.sched.runUntil(end, stop)
	return s.ctx.Err()
}

// heal ends every fault: the network is whole, crashed nodes restart and
// disks are fast and readable again. Membership tasks under way go on.
func (s *simulation) heal() {
	s.healed = true
	s.trace.record("heal")
	s.trace.logf("HEAL all faults")
	s.net.heal()
	for _, id := range s.ids {
		n := s.nodes[id]
		n.slowDisk = false
		n.disk.failReads = readsOK
		n.pausedUntil, n.applyStalledUntil = 0, 0
		if !n.up && !n.retired {
			s.sched.after(0, func() {
				if !n.up && !n.retired {
					n.start()
				}
			})
		}
	}
}

// converged reports whether every member runs and has applied as far as the
// leader, with identical state.
func (s *simulation) converged() bool {
	leader := s.leader()
	if leader == nil {
		return false
	}
	voters, learners := leader.stepper.Members()
	want := leader.stepper.AppliedIndex()
	var ref map[string]string
	for _, id := range append(voters, learners...) {
		n := s.nodes[id]
		if n == nil || !n.up || n.stepper.AppliedIndex() != want {
			return false
		}
		if ref == nil {
			ref = n.kv.data
		} else if !mapsEqual(ref, n.kv.data) {
			s.violationf("state machine safety: node %d's state differs from node %d's at applied index %d", id, leader.id, want)
			return true
		}
	}
	return true
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (s *simulation) describeNodes() string {
	var out []byte
	for _, id := range s.ids {
		n := s.nodes[id]
		state := "down"
		switch {
		case n.retired:
			state = "retired"
		case n.up:
			v, l := n.stepper.Members()
			state = fmt.Sprintf("%v term=%d applied=%d voters=%v learners=%v", n.stepper.Role(), n.stepper.Term(), n.stepper.AppliedIndex(), v, l)
		}
		out = fmt.Appendf(out, "[node %d %s] ", id, state)
	}
	return string(out)
}

func (s *simulation) addNode(join bool) *simNode {
	n := newSimNode(s, s.nextID, join)
	s.nextID++
	s.nodes[n.id] = n
	s.ids = append(s.ids, n.id)
	return n
}

// retire stops a node for good: it was removed or its machine wiped.
func (s *simulation) retire(id uint64) {
	n := s.nodes[id]
	if n == nil || n.retired {
		return
	}
	n.crash("retired")
	n.retired = true
	s.trace.record("retire", id)
}

// runningNodes returns the nodes that are up, in id order.
func (s *simulation) runningNodes() []*simNode {
	var out []*simNode
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up && !n.retired {
			out = append(out, n)
		}
	}
	return out
}

// leader returns the running node that leads the highest term, or nil.
func (s *simulation) leader() *simNode {
	var best *simNode
	for _, n := range s.runningNodes() {
		if n.stepper.Role() == raftcore.RoleLeader && (best == nil || n.stepper.Term() > best.stepper.Term()) {
			best = n
		}
	}
	return best
}

// clock is the wall clock the nodes see: virtual time since the epoch.
func (s *simulation) clock() time.Time { return simEpoch.Add(s.sched.now) }

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// enginePanicked handles a panic out of an engine. The Stepper stops the
// node on the panics a Node survives (raft's after a failed read of the
// log, or on a broken invariant); any other would crash a real node's
// process. The node is stopped for good and the run goes on, so the other
// checks can tell what else went wrong.
func (s *simulation) enginePanicked(p any) {
	n := s.active
	if n == nil {
		s.violationf("panic outside any node: %v", p)
		return
	}
	s.active = nil
	s.stopForGood(n, "node %d panicked (its process would crash): %v", n.id, p)
}

// stopForGood records a violation for node n, whose engine failed, and
// stops the node for good.
func (s *simulation) stopForGood(n *simNode, format string, args ...any) {
	s.violationf(format, args...)
	if n.up {
		n.up = false // its engine is in no state to fail its calls
		n.incarnation++
	}
	n.retired = true
}

func (s *simulation) violationf(format string, args ...any) {
	msg := fmt.Sprintf("%.6fs: ", s.sched.now.Seconds()) + fmt.Sprintf(format, args...)
	s.trace.logf("VIOLATION %s", msg)
	if len(s.violations) < 20 && !slices.Contains(s.violations, msg) {
		s.violations = append(s.violations, msg)
	}
}

// write saves the readable trace and the porcupine visualisation of a
// failing run under cfg.OutDir.
func (o outcome) write(cfg Config) (tracePath, vizPath string, err error) {
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return "", "", fmt.Errorf("sim: output directory: %w", err)
	}
	base := filepath.Join(cfg.OutDir, fmt.Sprintf("jangada-sim-seed-%d", cfg.Seed))
	tracePath, vizPath = base+".trace.txt", base+".html"
	var text []byte
	text = fmt.Appendf(text, "seed=%d nodes=%d duration=%v nemeses=%v bugs=%v\n", cfg.Seed, cfg.Nodes, cfg.Duration, cfg.Nemeses, cfg.Bugs)
	for _, v := range o.result.Violations {
		text = fmt.Appendf(text, "VIOLATION %s\n", v)
	}
	text = append(text, "\n--- events ---\n"...)
	text = append(text, o.text...)
	text = append(text, "\n--- client history ---\n"...)
	text = append(text, describeHistory(o.history)...)
	if err := os.WriteFile(tracePath, text, 0o644); err != nil {
		return "", "", fmt.Errorf("sim: write trace: %w", err)
	}
	if err := porcupine.VisualizePath(kvModel, o.info, vizPath); err != nil {
		return tracePath, "", fmt.Errorf("sim: write visualisation: %w", err)
	}
	return tracePath, vizPath, nil
}
