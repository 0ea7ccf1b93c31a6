package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// workload runs the virtual clients. Each has one request in flight; every
// write carries a value never written before, so an operation whose outcome
// is unknown can be placed by the linearizability checker.
type workload struct {
	s         *simulation
	clients   []*client
	keys      []string
	history   []porcupine.Operation
	nextProc  int
	nextValue int
	stopped   bool
	// staleReads are checked apart from the history: a stale read may return
	// any value written before it returned, or nothing.
	staleReads []staleRead
	// written maps a value to the time its write was invoked.
	written map[string]time.Duration
	ops     int
	nextID  uint64
	// pending holds the requests in flight, in the order they were issued.
	pending []*pendingOp
}

type client struct {
	id   int
	proc int // porcupine client id; a new one after an unknown outcome
	seen map[string]string
	// session is the client session its writes go in (see sessions.go),
	// seq the sequence number of its last write.
	session, seq uint64
}

type staleRead struct {
	key, value string
	node       uint64
	at         time.Duration
}

// pendingOp is one request in flight.
type pendingOp struct {
	c    *client
	in   kvInput
	call time.Duration
	done bool
	then func(out kvOutput, ok bool)
}

const (
	opTimeout = time.Second
	thinkMax  = 20 * time.Millisecond
)

func newWorkload(s *simulation) *workload {
	w := &workload{s: s, written: map[string]time.Duration{}}
	for i := range s.cfg.Keys {
		w.keys = append(w.keys, fmt.Sprintf("k%d", i))
	}
	for i := range s.cfg.Clients {
		w.clients = append(w.clients, &client{id: i, proc: w.newProc(), seen: map[string]string{}})
	}
	return w
}

func (w *workload) newProc() int {
	w.nextProc++
	return w.nextProc - 1
}

func (w *workload) start() {
	for _, c := range w.clients {
		w.next(c)
	}
}

func (w *workload) next(c *client) {
	if w.stopped {
		return
	}
	w.s.sched.after(w.s.sched.between(0, thinkMax), func() {
		if !w.stopped {
			w.issue(c, w.randomOp(c), nil)
		}
	})
}

func (w *workload) newValue(c *client) string {
	w.nextValue++
	return fmt.Sprintf("v%d.%d", c.id, w.nextValue)
}

func (w *workload) randomOp(c *client) kvInput {
	sc := w.s.sched
	key := pick(sc, w.keys)
	switch r := sc.rng.IntN(100); {
	case r < 30:
		return kvInput{Op: opPut, Key: key, Value: w.newValue(c)}
	case r < 55:
		return kvInput{Op: opGet, Key: key}
	case r < 65:
		return kvInput{Op: opStaleGet, Key: key}
	case r < 75:
		return kvInput{Op: opDelete, Key: key}
	default:
		if exp := c.seen[key]; exp != "" {
			return kvInput{Op: opCAS, Key: key, Expect: exp, Value: w.newValue(c)}
		}
		return kvInput{Op: opPut, Key: key, Value: w.newValue(c)}
	}
}

// issue sends in from client c to a random running node. then, when set,
// runs instead of starting the client's next request.
func (w *workload) issue(c *client, in kvInput, then func(out kvOutput, ok bool)) {
	s := w.s
	if in.Op.writes() && c.session == 0 && !s.cfg.bug(BugNoSessions) {
		w.register(c, func() { w.issue(c, in, then) })
		return
	}
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		s.sched.after(10*time.Millisecond, func() { w.issue(c, in, then) })
		return
	}
	n := pick(s.sched, nodes)
	op := &pendingOp{c: c, in: in, call: s.sched.now, then: then}
	w.ops++
	w.pending = append(w.pending, op)
	if in.Value != "" {
		w.written[in.Value] = op.call
	}
	s.trace.record("call", uint64(c.id), uint64(in.Op), n.id)
	s.trace.recordString(in.Key + "=" + in.Value + "?" + in.Expect)
	s.trace.logf("client %d -> node %d: %s", c.id, n.id, kvModel.DescribeOperation(in, kvOutput{Unknown: true}))
	s.sched.after(opTimeout, func() { w.finish(op, kvOutput{Unknown: true}) })
	s.active = n
	switch in.Op {
	case opStaleGet:
		var v string
		n.stepper.ReadStale(func() { v = n.kv.get(in.Key) })
		w.staleReads = append(w.staleReads, staleRead{key: in.Key, value: v, node: n.id, at: s.sched.now})
		w.finish(op, kvOutput{Value: v})
	case opGet:
		if s.cfg.bug(BugStaleRead) {
			var v string
			n.stepper.ReadStale(func() { v = n.kv.get(in.Key) })
			w.finish(op, kvOutput{Value: v})
			return
		}
		n.readIndex(func(_ uint64, err error) {
			if err != nil {
				w.abandon(op)
				return
			}
			var v string
			n.stepper.ReadStale(func() { v = n.kv.get(in.Key) })
			w.finish(op, kvOutput{Value: v})
		})
	default:
		w.nextID++
		w.write(op, kvCommand{ID: w.nextID, Op: in.Op, Key: in.Key, Value: in.Value, Expect: in.Expect}, n)
	}
}

// finish records op's outcome in the history.
func (w *workload) finish(op *pendingOp, out kvOutput) {
	if op.done {
		return
	}
	op.done = true
	s, c := w.s, op.c
	ret := int64(s.sched.now)
	if out.Unknown {
		ret = unknownReturn
	}
	s.trace.record("return", uint64(c.id), boolBit(out.Unknown), boolBit(out.OK), boolBit(out.Found))
	s.trace.recordString(out.Value)
	s.trace.logf("client %d <- %s", c.id, kvModel.DescribeOperation(op.in, out))
	if op.in.Op != opStaleGet && !(out.Unknown && op.in.Op == opGet) {
		w.history = append(w.history, porcupine.Operation{ClientId: c.proc, Input: op.in, Call: int64(op.call), Output: out, Return: ret})
	}
	if out.Unknown {
		c.proc = w.newProc()
	} else {
		switch op.in.Op {
		case opGet, opStaleGet:
			c.seen[op.in.Key] = out.Value
		case opPut:
			c.seen[op.in.Key] = op.in.Value
		case opCAS:
			if out.OK {
				c.seen[op.in.Key] = op.in.Value
			} else {
				c.seen[op.in.Key] = out.Value
			}
		case opDelete:
			delete(c.seen, op.in.Key)
		}
	}
	w.done(op, out, !out.Unknown)
}

// abandon drops an operation that certainly had no effect (a read that got
// no read index, a proposal raft refused).
func (w *workload) abandon(op *pendingOp) {
	if op.done {
		return
	}
	op.done = true
	w.s.trace.record("abandon", uint64(op.c.id))
	w.s.trace.logf("client %d <- failed, no effect", op.c.id)
	w.done(op, kvOutput{}, false)
}

func (w *workload) done(op *pendingOp, out kvOutput, ok bool) {
	w.pending = slices.DeleteFunc(w.pending, func(p *pendingOp) bool { return p == op })
	if op.then != nil {
		op.then(out, ok)
		return
	}
	w.next(op.c)
}

// finalize runs after the faults healed: it writes until a write commits,
// then reads every key linearizably, then calls done.
func (w *workload) finalize(done func()) {
	w.stopped = true
	c := &client{id: len(w.clients), proc: w.newProc(), seen: map[string]string{}}
	var readKey func(i int)
	readKey = func(i int) {
		if i == len(w.keys) {
			done()
			return
		}
		w.issue(c, kvInput{Op: opGet, Key: w.keys[i]}, func(_ kvOutput, ok bool) {
			if !ok {
				w.s.sched.after(10*time.Millisecond, func() { readKey(i) })
				return
			}
			readKey(i + 1)
		})
	}
	var write func()
	write = func() {
		w.issue(c, kvInput{Op: opPut, Key: w.keys[0], Value: w.newValue(c)}, func(_ kvOutput, ok bool) {
			if !ok {
				w.s.sched.after(10*time.Millisecond, write)
				return
			}
			readKey(0)
		})
	}
	write()
}

// abandonPending ends the run for the requests still in flight: their
// outcome is unknown.
func (w *workload) abandonPending() {
	w.stopped = true
	for _, op := range slices.Clone(w.pending) {
		op.then = func(kvOutput, bool) {}
		w.finish(op, kvOutput{Unknown: true})
	}
}

// checkStaleReads: a stale read returns nothing or a value written before it.
func (w *workload) checkStaleReads() {
	for _, r := range w.staleReads {
		if r.value == "" {
			continue
		}
		if at, ok := w.written[r.value]; !ok || at > r.at {
			w.s.violationf("stale read on node %d of %s at %v returned %q, which no write had been invoked for", r.node, r.key, r.at, r.value)
			return
		}
	}
}
