package raftcore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// runtime drives an engine with goroutines and a wall clock: a raft
// goroutine plays the raft role (ticks, proposals, reads, queued messages;
// a transport goroutine plays it instead for messages that arrive while raft
// is idle, see stepInline), a log writer persists (one Save, one fsync per
// batch), an applier applies committed entries, and short-lived goroutines
// stream snapshots to followers.
type runtime struct {
	e *engine

	propc   chan *proposal
	readc   chan *readWaiter
	recvc   chan []*raftpb.Message
	snapc   chan *raftpb.Message
	ctrlc   chan func()
	local   *workQueue[*raftpb.Message]
	appendq *workQueue[*raftpb.Message]
	applyq  *workQueue[applyJob]

	stopc    chan struct{} // closed to stop every goroutine
	stopOnce sync.Once
	wg       sync.WaitGroup
	sendCtx  context.Context
	cancel   context.CancelFunc
	closing  atomic.Bool
	errMu    sync.Mutex
	err      error         // why the node stopped
	donec    chan struct{} // closed once fully stopped
	dropped  atomic.Uint64 // inbound messages dropped on a full queue
	// inbound counts batches queued on recvc and not stepped yet: while
	// any is, a later batch may not be stepped ahead of it (stepInline).
	inbound      atomic.Int64
	refused      atomic.Uint64 // inbound messages refused by validateRemote
	shutdownOnce sync.Once
	shutdownErr  error
	props        []*proposal // reused under raftMu by takeProposals
	// snapWanted is set while a snapshot requested by raftStorage is queued.
	snapWanted atomic.Bool
}

// applyJob is a MsgStorageApply or a request for a snapshot.
type applyJob struct {
	msg    *raftpb.Message
	snap   chan snapshotReply
	wanted bool // a snapshot raft needs for a follower
	// live streams the snapshot's state to an OpenState reader.
	live *liveCopy
}

type snapshotReply struct {
	meta SnapshotMeta
	err  error
}

const (
	inboundQueue   = 1024
	readQueue      = 4096
	maxProposeRun  = 1024
	maxDrain       = 64
	snapshotSendIn = 10 * time.Minute
)

func newRuntime(e *engine) *runtime {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runtime{
		e:       e,
		propc:   make(chan *proposal, e.cfg.ProposalQueueSize),
		readc:   make(chan *readWaiter, readQueue),
		recvc:   make(chan []*raftpb.Message, inboundQueue),
		snapc:   make(chan *raftpb.Message),
		ctrlc:   make(chan func()),
		local:   newWorkQueue[*raftpb.Message](),
		appendq: newWorkQueue[*raftpb.Message](),
		applyq:  newWorkQueue[applyJob](),
		stopc:   make(chan struct{}),
		sendCtx: ctx,
		cancel:  cancel,
		donec:   make(chan struct{}),
	}
	e.wantSnapshot = func() {
		if r.snapWanted.CompareAndSwap(false, true) {
			r.applyq.push(applyJob{wanted: true})
		}
	}
	return r
}

func (r *runtime) start() error {
	if err := r.e.tr.Start(r); err != nil {
		return fmt.Errorf("raftcore: start transport: %w", err)
	}
	r.wg.Add(3)
	go r.raftLoop()
	go r.logWriterLoop()
	go r.applyLoop()
	return nil
}

// fail stops the node because of err; every waiting call returns ErrStopped
// wrapping err.
func (r *runtime) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
		r.e.cfg.Logger.Error("node stopped", "err", err)
	}
	r.errMu.Unlock()
	r.signalStop()
	// Release waiters and resources now, not at the user's Close.
	go func() { _ = r.shutdown(true) }()
}

// failed reports whether the node stopped because of an error rather than
// a Close.
func (r *runtime) failed() bool {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err != nil
}

func (r *runtime) signalStop() {
	r.stopOnce.Do(func() {
		close(r.stopc)
		r.cancel()
	})
}

// stoppedErr is what calls return once the node is stopping or stopped.
func (r *runtime) stoppedErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err != nil && !errors.Is(r.err, ErrStopped) {
		return fmt.Errorf("%w: %w", ErrStopped, r.err)
	}
	return ErrStopped
}

// withRaft runs fn on the RawNode, takes in whatever else is already
// waiting (so that one Ready, one append and one broadcast cover it all),
// then routes raft's output.
func (r *runtime) withRaft(fn func()) {
	r.e.raftMu.Lock()
	defer r.e.raftMu.Unlock()
	fn()
	r.drainLocked()
	r.e.processReady(r)
}

// drainLocked steps messages and proposals that are already queued, without
// waiting for more.
func (r *runtime) drainLocked() {
	for range maxDrain {
		select {
		case msgs := <-r.recvc:
			for _, m := range msgs {
				r.e.step(m)
			}
			r.inbound.Add(-1)
		case <-r.local.ready():
			for _, m := range r.local.take() {
				r.e.step(m)
			}
		case p := <-r.propc:
			r.e.proposeBatch(r.takeProposals(p))
		default:
			return
		}
	}
}

// takeProposals returns first and the proposals queued behind it. Whoever
// holds raftMu calls it (r.props is the raft role's); the previous batch's
// references are dropped first.
func (r *runtime) takeProposals(first *proposal) []*proposal {
	clear(r.props)
	props := append(r.props[:0], first)
	for len(props) < maxProposeRun {
		select {
		case p := <-r.propc:
			props = append(props, p)
		default:
			r.props = props
			return props
		}
	}
	r.props = props
	return props
}

func (r *runtime) raftLoop() {
	defer r.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			if err := r.e.raftFailure(p); err != nil {
				r.fail(err)
				return
			}
			panic(p)
		}
	}()
	ticker := time.NewTicker(r.e.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-r.stopc:
			return
		case <-ticker.C:
			r.withRaft(r.e.tick)
		case msgs := <-r.recvc:
			r.withRaft(func() {
				for _, m := range msgs {
					r.e.step(m)
				}
				r.inbound.Add(-1)
			})
		case m := <-r.snapc:
			r.withRaft(func() { r.e.step(m) })
		case <-r.local.ready():
			msgs := r.local.take()
			r.withRaft(func() {
				for _, m := range msgs {
					r.e.step(m)
				}
			})
		case p := <-r.propc:
			r.withRaft(func() { r.e.proposeBatch(r.takeProposals(p)) })
		case w := <-r.readc:
			ws := []*readWaiter{w}
			for len(ws) < readQueue {
				select {
				case w := <-r.readc:
					ws = append(ws, w)
					continue
				default:
				}
				break
			}
			r.withRaft(func() { r.e.readIndex(ws) })
		case fn := <-r.ctrlc:
			r.withRaft(fn)
		}
	}
}

// control runs fn on the raft goroutine and waits for it to be taken.
func (r *runtime) control(ctx context.Context, fn func()) error {
	select {
	case r.ctrlc <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopc:
		return r.stoppedErr()
	}
}

func (r *runtime) logWriterLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stopc:
			return
		case <-r.appendq.ready():
		}
		msgs := r.appendq.take()
		if len(msgs) == 0 {
			continue
		}
		resps, err := r.e.persist(msgs)
		if err != nil {
			r.fail(err)
			return
		}
		r.route(resps)
	}
}

func (r *runtime) applyLoop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stopc:
			return
		case <-r.applyq.ready():
		}
		for _, job := range r.applyq.take() {
			if job.snap != nil || job.wanted {
				kind := SnapshotManual
				if job.wanted {
					kind = SnapshotAuto
					r.snapWanted.Store(false)
				}
				meta, err := r.e.takeSnapshotTeed(kind, job.live)
				if job.snap != nil {
					job.snap <- snapshotReply{meta: meta, err: err}
				}
				if err != nil {
					r.fail(err)
					return
				}
				continue
			}
			resps, err := r.e.applyCommitted(job.msg)
			if err != nil {
				r.fail(err)
				return
			}
			r.route(resps)
			select {
			case <-r.stopc:
				return
			default:
			}
		}
	}
}

// route delivers responses released by the log writer or the applier: those
// for this node are stepped by the raft goroutine, the rest go to the network.
func (r *runtime) route(resps []*raftpb.Message) {
	var remote []*raftpb.Message
	var local []*raftpb.Message
	for _, m := range resps {
		if m.GetTo() == r.e.id {
			local = append(local, m)
		} else {
			remote = append(remote, m)
		}
	}
	if len(local) > 0 {
		r.local.push(local...)
	}
	if len(remote) > 0 {
		r.e.tr.Send(remote)
	}
}

// --- output -----------------------------------------------------------------

func (r *runtime) send(msgs []*raftpb.Message) { r.e.tr.Send(msgs) }
func (r *runtime) persist(m *raftpb.Message)   { r.appendq.push(m) }
func (r *runtime) apply(m *raftpb.Message)     { r.applyq.push(applyJob{msg: m}) }
func (r *runtime) sendSnapshot(m *raftpb.Message) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.streamSnapshot(m)
		status := raft.SnapshotFinish
		if err != nil {
			status = raft.SnapshotFailure
			r.e.cfg.Logger.Warn("snapshot send failed", "to", m.GetTo(), "err", err)
		}
		// Raft keeps the follower in snapshot state until it hears the outcome.
		_ = r.control(context.Background(), func() { r.e.rn.ReportSnapshot(m.GetTo(), status) })
	}()
}

func (r *runtime) streamSnapshot(m *raftpb.Message) error {
	start := time.Now()
	idx := m.GetSnapshot().GetMetadata().GetIndex()
	_, rc, err := r.e.ss.Open(idx)
	if err != nil {
		return err
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(r.sendCtx, snapshotSendIn)
	defer cancel()
	cr := &countingReader{r: rc}
	err = r.e.tr.SendSnapshot(ctx, m, cr)
	r.e.obs.Snapshot(SnapshotSent, time.Since(start), cr.n, err)
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// --- Handler ----------------------------------------------------------------

// HandleMessages implements Handler. Messages a peer may not send are
// dropped here, before they can reach raft (validateRemote). The rest are
// stepped at once on the caller's goroutine when raft is idle (stepInline),
// queued for the raft goroutine otherwise.
func (r *runtime) HandleMessages(msgs []*raftpb.Message) {
	kept := msgs[:0:0]
	for _, m := range msgs {
		if err := r.e.checkRemote(m); err != nil {
			// Rate-limited to the first of each thousand: a hostile peer
			// must not flood the log either.
			if r.refused.Add(1)%1000 == 1 {
				r.e.cfg.Logger.Warn("refused message from peer", "err", err, "refused", r.refused.Load())
			}
			continue
		}
		kept = append(kept, m)
	}
	if len(kept) == 0 || r.stepInline(kept) {
		return
	}
	r.inbound.Add(1)
	select {
	case r.recvc <- kept:
	default:
		r.inbound.Add(-1)
		r.dropped.Add(uint64(len(kept)))
	}
}

// stepInline steps msgs on the calling (transport) goroutine when the raft
// goroutine is idle and no earlier batch waits for it, sparing the hand-off
// to it; it reports whether it did. Whoever holds raftMu plays the raft
// role, so this is the raft goroutine's work done by another goroutine.
func (r *runtime) stepInline(msgs []*raftpb.Message) (stepped bool) {
	if r.inbound.Load() != 0 || !r.e.raftMu.TryLock() {
		return false
	}
	defer r.e.raftMu.Unlock()
	if r.inbound.Load() != 0 {
		return false
	}
	select {
	case <-r.stopc:
		return false
	default:
	}
	defer func() {
		if p := recover(); p != nil {
			err := r.e.raftFailure(p)
			if err == nil {
				panic(p)
			}
			r.fail(err)
			stepped = true
		}
	}()
	for _, m := range msgs {
		r.e.step(m)
	}
	r.drainLocked()
	r.e.processReady(r)
	return true
}

// HandleSnapshot implements Handler: it stores the streamed snapshot, then
// hands the MsgSnap to raft, which installs it through the log writer.
func (r *runtime) HandleSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error {
	select {
	case <-r.stopc:
		return r.stoppedErr()
	default:
	}
	if err := r.e.receiveSnapshot(m, body); err != nil {
		return err
	}
	select {
	case r.snapc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopc:
		return r.stoppedErr()
	}
}

// ReportUnreachable implements Handler.
func (r *runtime) ReportUnreachable(id uint64) {
	select {
	case r.ctrlc <- func() { r.e.rn.ReportUnreachable(id) }:
	default:
		// The raft goroutine is busy; raft notices the silence on its own.
	}
}

// shutdown stops the goroutines and fails every waiting call. It closes the
// transport and stores when closeResources is set (Close); a simulated crash
// leaves them as they are.
// Only the first call does the work; later ones wait for it and return its result.
func (r *runtime) shutdown(closeResources bool) error {
	r.shutdownOnce.Do(func() { r.shutdownErr = r.doShutdown(closeResources) })
	<-r.donec
	return r.shutdownErr
}

func (r *runtime) doShutdown(closeResources bool) error {
	r.signalStop()
	r.wg.Wait()
	// A transport goroutine may be stepping messages (stepInline); it
	// checked stopc under raftMu, so once it is released none will start.
	r.e.raftMu.Lock()
	//lint:ignore SA2001 an empty critical section: waiting for the holder is the point
	r.e.raftMu.Unlock()
	err := r.stoppedErr()
	r.e.waiters.failAll(err)
	r.e.reads.failAll(err)
	r.e.failPendingReads(err)
	r.e.events.close()
	var errs []error
	if closeResources {
		if !r.failed() {
			r.e.deferLeftoverCommit(r.appendq.take())
			if e := r.e.flushCommit(); e != nil {
				errs = append(errs, e)
			}
		}
		if e := r.e.tr.Close(); e != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", e))
		}
		if e := r.e.ls.Close(); e != nil {
			errs = append(errs, fmt.Errorf("close log store: %w", e))
		}
		if c, ok := r.e.ss.(io.Closer); ok {
			if e := c.Close(); e != nil {
				errs = append(errs, fmt.Errorf("close snapshot store: %w", e))
			}
		}
	}
	close(r.donec)
	return errors.Join(errs...)
}
