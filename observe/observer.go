package observe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// NodeSource is what an Observer reads from a running node. *raftcore.Node
// of any command and result types implements it.
type NodeSource interface {
	Status() raftcore.Status
	Subscribe(ctx context.Context) <-chan raftcore.Event
}

// Observer turns one node's activity into Prometheus metrics, OpenTelemetry
// spans and health reports. Set it as raftcore.Config.Observer before the
// node starts, then Attach the node. All methods are safe for concurrent use.
type Observer struct {
	cfg    Config
	reg    *prometheus.Registry
	m      *metrics
	tracer trace.Tracer // nil: tracing off
	now    func() time.Time

	// proposeCalls and readCalls recycle the per-call state so that the hooks
	// allocate nothing when tracing is off.
	proposeCalls sync.Pool
	readCalls    sync.Pool
	saves        saveWindow

	mu         sync.Mutex
	node       NodeSource
	closed     bool
	stop       context.CancelFunc
	watchDone  chan struct{}
	attachedAt time.Time
	leaderSeen time.Time // last time a leader was known
	checks     []Check
}

var _ raftcore.StageObserver = (*Observer)(nil)

const tracerName = "github.com/jangada-io/jangada/observe"

// New returns an Observer with its metrics registered in cfg.Registry (or a
// new registry) and the default health checks. It returns an error wrapping
// ErrInvalidConfig for a bad cfg, or the registry's error when cfg.Registry
// already holds metrics of the same names.
func New(cfg Config) (*Observer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := registerRuntime(reg); err != nil {
			return nil, fmt.Errorf("observe: register runtime collectors: %w", err)
		}
	}
	o := &Observer{cfg: cfg, reg: reg, m: newMetrics(), now: time.Now}
	for _, c := range append(o.m.collectors(), newStatusCollector(o)) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("observe: register metrics: %w", err)
		}
	}
	if _, isNoop := cfg.TracerProvider.(noop.TracerProvider); cfg.TracerProvider != nil && !isNoop {
		o.tracer = cfg.TracerProvider.Tracer(tracerName)
	}
	o.proposeCalls.New = func() any { return newCall(o, false) }
	o.readCalls.New = func() any { return newCall(o, true) }
	o.checks = o.defaultChecks()
	return o, nil
}

// Registry returns the registry holding this node's metrics.
func (o *Observer) Registry() *prometheus.Registry { return o.reg }

// Attach starts watching n: its Status feeds the gauges, /status and the
// health checks, and its events count leader changes. An Observer watches
// one node; a second Attach returns ErrAttached, one after Close ErrClosed.
func (o *Observer) Attach(n NodeSource) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
		return ErrClosed
	case o.node != nil:
		return ErrAttached
	}
	ctx, stop := context.WithCancel(context.Background())
	// Subscribe before reading the leader so no election falls in between.
	events := n.Subscribe(ctx)
	o.node, o.stop, o.watchDone = n, stop, make(chan struct{})
	o.attachedAt = o.now()
	go o.watch(ctx, n, events)
	return nil
}

// Close stops watching the node. The metrics stay registered and the hooks
// keep counting; Close does not close the node.
func (o *Observer) Close() error {
	o.mu.Lock()
	o.closed = true
	stop, done := o.stop, o.watchDone
	o.stop = nil
	o.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return nil
}

func (o *Observer) source() NodeSource {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.node
}

// watch consumes the node's events until ctx is done or the node stops.
func (o *Observer) watch(ctx context.Context, n NodeSource, events <-chan raftcore.Event) {
	defer close(o.watchDone)
	o.sawLeader(n.Status().Leader)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch ev.Type {
			case raftcore.EventLeaderElected:
				o.m.leaderChanges.Inc()
				o.sawLeader(ev.Leader)
			case raftcore.EventsLost:
				o.sawLeader(n.Status().Leader)
			}
		}
	}
}

// sawLeader records that leader (0: none) was known now.
func (o *Observer) sawLeader(leader uint64) {
	if leader == 0 {
		return
	}
	now := o.now()
	o.mu.Lock()
	o.leaderSeen = now
	o.mu.Unlock()
}

// Propose implements raftcore.Observer: it starts the proposal's span as a
// child of the caller's, and counts and times the proposal when done.
func (o *Observer) Propose(ctx context.Context, size int) (context.Context, func(uint64, error)) {
	c := o.proposeCalls.Get().(*call)
	c.start = time.Now()
	if o.tracer != nil {
		ctx, c.span = o.tracer.Start(ctx, "raft.propose")
		// Attributes are only built for spans that are kept: most are not
		// when sampling.
		if c.span.IsRecording() {
			c.span.SetAttributes(attribute.Int("raft.command.size", size))
		}
	}
	return ctx, c.done
}

// ProposalStages implements raftcore.StageObserver: each stage a traced
// proposal reaches becomes an event of its span ("raft.committed": the
// entry is replicated to a quorum and about to apply here), so a trace
// shows propose, replicate and apply in order. Untraced proposals cost
// nothing.
func (o *Observer) ProposalStages(ctx context.Context) func(raftcore.Stage, uint64) {
	if o.tracer == nil {
		return nil
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return nil
	}
	return func(stage raftcore.Stage, index uint64) {
		span.AddEvent("raft."+string(stage), trace.WithAttributes(attribute.Int64("raft.index", int64(index))))
	}
}

// Read implements raftcore.Observer: it starts the read's span and times
// how long the read index took to obtain and apply.
func (o *Observer) Read(ctx context.Context) (context.Context, func(uint64, error)) {
	c := o.readCalls.Get().(*call)
	c.start = time.Now()
	if o.tracer != nil {
		ctx, c.span = o.tracer.Start(ctx, "raft.read")
	}
	return ctx, c.done
}

// LogSaved implements raftcore.Observer.
func (o *Observer) LogSaved(_, _ int, d time.Duration, err error) {
	o.m.logSaveDuration.Observe(d.Seconds())
	o.saves.record(d, err, o.now)
}

// Applied implements raftcore.Observer.
func (o *Observer) Applied(_ int, d time.Duration) {
	o.m.applyDuration.Observe(d.Seconds())
}

// Snapshot implements raftcore.Observer. The span is recorded after the fact
// with the snapshot's start and end times; it has no parent.
func (o *Observer) Snapshot(kind raftcore.SnapshotKind, d time.Duration, size int64, err error) {
	result := ResultOK
	if err != nil {
		result = ResultError
	}
	o.m.snapshots.WithLabelValues(string(kind), result).Inc()
	o.m.snapshotDuration.WithLabelValues(string(kind)).Observe(d.Seconds())
	if o.tracer == nil {
		return
	}
	end := time.Now()
	_, span := o.tracer.Start(context.Background(), "raft.snapshot",
		trace.WithTimestamp(end.Add(-d)),
		trace.WithAttributes(
			attribute.String("raft.snapshot.kind", string(kind)),
			attribute.Int64("raft.snapshot.size", size),
			attribute.String("raft.result", result),
		))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

// call is one proposal or read in flight. done is bound once, when the call
// is created, so handing it out again after recycling allocates nothing.
type call struct {
	o     *Observer
	read  bool
	start time.Time
	span  trace.Span
	done  func(index uint64, err error)
}

func newCall(o *Observer, read bool) *call {
	c := &call{o: o, read: read}
	c.done = c.finish
	return c
}

func (c *call) finish(index uint64, err error) {
	o, d, span := c.o, time.Since(c.start), c.span
	result := resultOf(err)
	if c.read {
		if err == nil {
			observe(o.m.readDuration, d, span)
		}
	} else {
		o.m.proposals[result].Inc()
		if err == nil {
			observe(o.m.proposalDuration, d, span)
		}
	}
	if span != nil {
		endSpan(span, c.read, index, result, err)
	}
	c.span = nil
	if c.read {
		o.readCalls.Put(c)
	} else {
		o.proposeCalls.Put(c)
	}
}

func endSpan(span trace.Span, read bool, index uint64, result int, err error) {
	if span.IsRecording() {
		key := "raft.index"
		if read {
			key = "raft.read_index"
		}
		span.SetAttributes(
			attribute.Int64(key, int64(index)),
			attribute.String("raft.result", proposalResults[result]),
		)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// observe records d in h, with the trace id as exemplar when the span is
// sampled, so a slow bucket links to a trace.
func observe(h prometheus.Histogram, d time.Duration, span trace.Span) {
	if span != nil {
		if sc := span.SpanContext(); sc.IsSampled() {
			if eo, ok := h.(prometheus.ExemplarObserver); ok {
				eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
				return
			}
		}
	}
	h.Observe(d.Seconds())
}

// resultOf maps a proposal's error to its index in proposalResults.
func resultOf(err error) int {
	if err == nil {
		return resOK
	}
	return errorResult(err)
}

// errorResult is apart from resultOf so that its errors.As target, which
// escapes, is only allocated for failures.
func errorResult(err error) int {
	var notLeader *raftcore.NotLeaderError
	switch {
	case errors.Is(err, raftcore.ErrProposalDropped), errors.As(err, &notLeader):
		return resDropped
	case errors.Is(err, raftcore.ErrBusy):
		return resBusy
	case errors.Is(err, context.DeadlineExceeded):
		return resTimeout
	case errors.Is(err, context.Canceled):
		return resCanceled
	case errors.Is(err, raftcore.ErrStopped), errors.Is(err, raftcore.ErrRemoved):
		return resStopped
	}
	return resError
}
