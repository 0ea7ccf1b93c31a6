package backup_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jangada-io/jangada/backup"
)

// fakeClock is a Clock that moves only when the test fires its earliest
// timer.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// fireNextBefore waits (with a deadline) until the scheduler sleeps; if
// its timer is due before end, it moves the clock there, fires it and
// returns true.
func (c *fakeClock) fireNextBefore(t *testing.T, end time.Time) bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		if len(c.waiters) > 0 {
			w := c.waiters[0]
			if !w.at.Before(end) {
				c.mu.Unlock()
				return false
			}
			c.waiters = c.waiters[1:]
			c.now = w.at
			c.mu.Unlock()
			w.ch <- w.at
			return true
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not wait for its next run within 30s")
		}
		time.Sleep(time.Millisecond) // polling for the scheduler's goroutine
	}
}

// Four backups a day for ten days, pruned after each to the last 3, one a
// day for 4 days and one a week for 2 weeks: exactly the six backups those
// rules name remain. A run due while this member does not lead is skipped;
// a failed run is retried after the backoff.
func TestScheduleCreatesAndPrunesAsTheRetentionSays(t *testing.T) {
	const seed = 42
	t.Logf("jitter seed %d", seed)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	clock := &fakeClock{now: start}
	target, err := backup.NewDirTarget(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src, _ := kvSource(t, 20, 20, 6)
	skipAt := time.Date(2026, 1, 8, 6, 0, 0, 0, time.UTC)
	failAt := time.Date(2026, 1, 14, 12, 0, 0, 0, time.UTC)
	var failed atomic.Bool
	flaky := backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		if now := clock.Now(); now.Truncate(time.Hour).Equal(failAt) && !failed.Load() {
			failed.Store(true)
			return backup.State{}, errors.New("injected: node unavailable")
		}
		return src.OpenState(ctx)
	})
	var mu sync.Mutex
	var results []backup.Result
	s, err := backup.NewScheduler(backup.ScheduleConfig{
		Schedule: "0 */6 * * *", Jitter: 10 * time.Minute, Seed: seed,
		Target: target, Source: flaky,
		IsLeader:  func() bool { return !clock.Now().Truncate(time.Hour).Equal(skipAt) },
		Retention: backup.Retention{KeepLast: 3, KeepDaily: 4, KeepWeekly: 2},
		Retries:   2, RetryBackoff: time.Minute,
		Clock: clock,
		OnResult: func(r backup.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	end := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	for clock.fireNextBefore(t, end) {
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}

	var created, pruned, skipped, failures int
	for _, r := range results {
		switch {
		case r.Skipped:
			skipped++
			if !r.Started.Truncate(time.Hour).Equal(skipAt) {
				t.Errorf("run at %v skipped", r.Started)
			}
		case r.Err != nil:
			failures++
			if r.Final || !r.Started.Truncate(time.Hour).Equal(failAt) {
				t.Errorf("unexpected failure %+v", r)
			}
		default:
			created++
			pruned += len(r.Pruned)
			due := r.Started.Truncate(6 * time.Hour)
			if lag := r.Started.Sub(due); lag < 0 || lag >= 10*time.Minute+2*time.Minute {
				t.Errorf("backup at %v: %v after its due time, jitter is 10m (plus one retry of 1m)", r.Started, lag)
			}
		}
	}
	// Jan 5 06:00 to Jan 14 18:00 every 6 hours: 39 runs, one skipped.
	if created != 38 || skipped != 1 || failures != 1 || pruned != 32 {
		t.Fatalf("created %d, skipped %d, failed %d, pruned %d; want 38, 1, 1, 32", created, skipped, failures, pruned)
	}
	left, err := backup.List(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range left {
		got = append(got, m.CreatedAt.Truncate(6*time.Hour).Format("Jan 2 15h"))
	}
	want := []string{
		"Jan 11 18h",               // newest of the previous ISO week
		"Jan 12 18h", "Jan 13 18h", // newest of their days
		"Jan 14 06h", "Jan 14 12h", "Jan 14 18h", // the last three (Jan 14 18h is also its day's and week's)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("backups left %v, want %v", got, want)
	}
}

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]backup.Retention{
		"":                        {},
		"7":                       {KeepLast: 7},
		"last=2,daily=7,weekly=4": {KeepLast: 2, KeepDaily: 7, KeepWeekly: 4},
		" daily=3 , weekly=1 ":    {KeepDaily: 3, KeepWeekly: 1},
	} {
		got, err := backup.ParseRetention(in)
		if err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-1", "monthly=3", "last=x", "last"} {
		if _, err := backup.ParseRetention(bad); !errors.Is(err, backup.ErrInvalid) {
			t.Errorf("ParseRetention(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSchedulerRefusesBadSchedules(t *testing.T) {
	target, _ := backup.NewDirTarget(t.TempDir())
	src, _ := kvSource(t, 1, 1, 7)
	for _, spec := range []string{"", "every day", "61 * * * *"} {
		_, err := backup.NewScheduler(backup.ScheduleConfig{Schedule: spec, Target: target, Source: src, IsLeader: func() bool { return true }})
		if !errors.Is(err, backup.ErrInvalid) {
			t.Errorf("schedule %q: %v, want ErrInvalid", spec, err)
		}
	}
}

// An attempt that stalls (a target that never answers) ends at the run
// timeout and counts as a failure, so later runs are not held up.
func TestStalledRunEndsAtTheRunTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	target, _ := backup.NewDirTarget(t.TempDir())
	stalled := backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		<-ctx.Done()
		return backup.State{}, ctx.Err()
	})
	results := make(chan backup.Result, 4)
	s, err := backup.NewScheduler(backup.ScheduleConfig{
		Schedule: "@hourly", Target: target, Source: stalled, IsLeader: func() bool { return true },
		RunTimeout: 50 * time.Millisecond, Clock: clock, Seed: 1,
		OnResult: func(r backup.Result) { results <- r },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	clock.fireNextBefore(t, clock.Now().Add(2*time.Hour))
	select {
	case r := <-results:
		if !errors.Is(r.Err, context.DeadlineExceeded) || r.Final {
			t.Fatalf("stalled attempt: %+v, want a retryable deadline error", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled attempt did not end within 30s; the run timeout is 50ms")
	}
	cancel()
	<-done
}
