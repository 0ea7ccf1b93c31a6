package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Window is the timing of one measured run: operations completing during
// Warmup are discarded, those completing during Duration are counted.
type Window struct {
	Warmup   time.Duration
	Duration time.Duration
}

// OpGrace bounds how long an operation still in flight at the end of the
// window may take before it is abandoned.
const OpGrace = 10 * time.Second

// errorBackoff spaces out retries after a failed operation, so that a
// cluster without a leader is not spun on.
const errorBackoff = time.Millisecond

// Measurement is the outcome of Drive.
type Measurement struct {
	Summary
	// Latencies holds every latency counted, for merging across rounds.
	Latencies *Recorder
	// Errors counts operations that failed during the window.
	Errors int64
	// CPU is the process's user+system CPU time spent during the window.
	CPU time.Duration
}

// Drive runs op from clients concurrent goroutines, each issuing one
// operation after the other, for w.Warmup+w.Duration. size is the payload of
// one operation, for MB/s. It returns when every client has stopped.
func Drive(ctx context.Context, clients int, w Window, size int, op func(ctx context.Context) error) Measurement {
	start := time.Now()
	measureStart := start.Add(w.Warmup)
	measureEnd := measureStart.Add(w.Duration)
	opCtx, cancel := context.WithDeadline(ctx, measureEnd.Add(OpGrace))
	defer cancel()

	var (
		wg     sync.WaitGroup
		errs   atomic.Int64
		mu     sync.Mutex
		merged = NewRecorder()
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := NewRecorder()
			defer func() {
				mu.Lock()
				merged.Merge(rec)
				mu.Unlock()
			}()
			for {
				t0 := time.Now()
				if !t0.Before(measureEnd) || opCtx.Err() != nil {
					return
				}
				err := op(opCtx)
				t1 := time.Now()
				inWindow := !t1.Before(measureStart) && t1.Before(measureEnd)
				if err != nil {
					if inWindow {
						errs.Add(1)
					}
					if opCtx.Err() != nil {
						return
					}
					time.Sleep(errorBackoff)
					continue
				}
				if inWindow {
					rec.Record(t1.Sub(t0))
				}
			}
		}()
	}
	var cpu time.Duration
	if sleepUntil(ctx, measureStart) {
		cpu0 := CPUTime()
		if sleepUntil(ctx, measureEnd) {
			cpu = CPUTime() - cpu0
		}
	}
	wg.Wait()
	m := Measurement{Summary: merged.Summarize(w.Duration, size), Latencies: merged, Errors: errs.Load(), CPU: cpu}
	return m
}

// sleepUntil waits for t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Failover kills the leader of c and returns how long it took until a new
// leader was known and until the first write after the kill committed.
func Failover(ctx context.Context, c Cluster, cmd []byte) (elected, writable time.Duration, err error) {
	start := time.Now()
	if err := c.KillLeader(ctx); err != nil {
		return 0, 0, err
	}
	if err := c.WaitLeader(ctx); err != nil {
		return 0, 0, err
	}
	elected = time.Since(start)
	for {
		attempt, cancel := context.WithTimeout(ctx, ElectionTimeout)
		err := c.Write(attempt, cmd)
		cancel()
		if err == nil {
			return elected, time.Since(start), nil
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		time.Sleep(errorBackoff)
	}
}

// CatchUpChunk is the command size used to build state for the snapshot
// catch-up scenario.
const CatchUpChunk = 64 << 10

// CatchUp builds stateBytes of state on a cluster whose last node is held
// back, snapshots it, starts the held-back node and returns how long it
// took to apply everything the leader had (receiving and restoring the
// snapshot).
func CatchUp(ctx context.Context, c CatchUpCluster, stateBytes int64) (time.Duration, error) {
	chunk := make([]byte, CatchUpChunk)
	FillPayload(chunk)
	commands := int((stateBytes + CatchUpChunk - 1) / CatchUpChunk)
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr atomic.Value
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(commands) {
				if err := RetryWrite(ctx, c, chunk); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	if err := c.Snapshot(ctx); err != nil {
		return 0, err
	}
	// A large snapshot can stall a node long enough to cost it leadership;
	// the catch-up starts once a leader is back.
	if err := c.WaitLeader(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.StartHeldBack(ctx); err != nil {
		return 0, err
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// RetryWrite writes cmd, retrying failures that a busy cluster returns
// until ctx ends.
func RetryWrite(ctx context.Context, c Cluster, cmd []byte) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, OpGrace)
		err := c.Write(attempt, cmd)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(errorBackoff)
	}
}

// FillPayload fills b with a deterministic, poorly compressible pattern, so
// that no layer gains from compressing zeros.
func FillPayload(b []byte) {
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}
