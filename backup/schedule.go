package backup

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the time source of a Scheduler; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// pruneTimeout bounds the pruning after a scheduled backup.
const pruneTimeout = time.Minute

// Defaults for ScheduleConfig's zero values.
const (
	DefaultRetries      = 3
	DefaultRetryBackoff = 30 * time.Second
	DefaultRunTimeout   = 6 * time.Hour
)

// ScheduleConfig configures a Scheduler.
type ScheduleConfig struct {
	// Schedule is a cron expression: five fields (minute hour day-of-month
	// month day-of-week) or a descriptor such as "@daily" or "@every 6h".
	// Required.
	Schedule string
	// Jitter delays each run by a random duration in [0, Jitter), so that
	// many clusters on one schedule do not all start at once. Default: 0.
	Jitter time.Duration
	// Seed seeds the jitter. Default: random.
	Seed uint64
	// Target receives the backups; Source copies the state. Required.
	Target Target
	Source Source
	// IsLeader says whether this member should back up now: a run starts
	// only on the leader, so exactly one member of a cluster backs up, and
	// the duty moves with leadership. Required.
	IsLeader func() bool
	// Retention prunes the target after each successful backup. Default:
	// keep all.
	Retention Retention
	// ClusterID identifies the cluster in the backups' manifests
	// (CreateOptions.ClusterID).
	ClusterID string
	// Retries is how often a failed backup is tried again, RetryBackoff
	// the first pause (doubling). Defaults: 3, 30s.
	Retries      int
	RetryBackoff time.Duration
	// RunTimeout bounds one attempt (copy, compression, upload), so that a
	// stalled target cannot hold up every later run. Default: 6h.
	RunTimeout time.Duration
	// Clock is the time source. Default: the wall clock.
	Clock Clock
	// Logger receives a line per run. Default: discard.
	Logger *slog.Logger
	// OnResult, when set, is called after every attempt and every skipped
	// run (metrics, events).
	OnResult func(Result)
}

// Result is the outcome of one scheduled attempt.
type Result struct {
	// Skipped: this member was not the leader when the run was due.
	Skipped bool
	// Attempt counts from 1; Final reports the run's last attempt (success
	// or retries exhausted).
	Attempt int
	Final   bool
	Started time.Time
	// Duration of the backup itself (not the pruning).
	Duration time.Duration
	Manifest Manifest
	// Pruned names the backups the retention deleted after a success.
	Pruned []string
	Err    error
}

// Scheduler takes backups on a cron schedule. Run drives it.
type Scheduler struct {
	cfg   ScheduleConfig
	sched cron.Schedule
	rng   *rand.Rand
}

// ValidateSchedule reports whether spec is a cron expression a Scheduler
// accepts, as an error wrapping ErrInvalid.
func ValidateSchedule(spec string) error {
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("%w: schedule %q: %v", ErrInvalid, spec, err)
	}
	return nil
}

// NewScheduler checks cfg and returns its scheduler. Errors wrap
// ErrInvalid and name the problem.
func NewScheduler(cfg ScheduleConfig) (*Scheduler, error) {
	sched, err := cron.ParseStandard(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule %q: %v", ErrInvalid, cfg.Schedule, err)
	}
	switch {
	case cfg.Target == nil || cfg.Source == nil || cfg.IsLeader == nil:
		return nil, fmt.Errorf("%w: a schedule needs a target, a source and a leader check", ErrInvalid)
	case cfg.Jitter < 0 || cfg.Retries < 0 || cfg.RetryBackoff < 0 || cfg.RunTimeout < 0:
		return nil, fmt.Errorf("%w: jitter, retries, backoff and run timeout must not be negative", ErrInvalid)
	}
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	return &Scheduler{cfg: cfg, sched: sched, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1|1))}, nil
}

// Next returns when the first run after t is due, jitter excluded.
func (s *Scheduler) Next(t time.Time) time.Time { return s.sched.Next(t) }

// Run takes backups as scheduled until ctx is done, and returns ctx's
// error. Runs do not overlap: a run that lasts past the next due time
// delays it.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		due := s.sched.Next(s.cfg.Clock.Now())
		if due.IsZero() {
			return fmt.Errorf("%w: schedule %q never fires", ErrInvalid, s.cfg.Schedule)
		}
		if s.cfg.Jitter > 0 {
			due = due.Add(time.Duration(s.rng.Int64N(int64(s.cfg.Jitter))))
		}
		if err := s.sleepUntil(ctx, due); err != nil {
			return err
		}
		s.runOnce(ctx)
	}
}

func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := t.Sub(s.cfg.Clock.Now())
		if d <= 0 {
			return nil
		}
		select {
		case <-s.cfg.Clock.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runOnce makes one scheduled backup, retrying a failure while this member
// still leads.
func (s *Scheduler) runOnce(ctx context.Context) {
	log := s.cfg.Logger
	backoff := s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		if !s.cfg.IsLeader() {
			log.Debug("scheduled backup skipped: not the leader")
			s.report(Result{Skipped: true, Attempt: attempt, Final: true, Started: s.cfg.Clock.Now()})
			return
		}
		res := Result{Attempt: attempt, Started: s.cfg.Clock.Now()}
		runCtx, cancel := context.WithTimeout(ctx, s.cfg.RunTimeout)
		res.Manifest, res.Err = Create(runCtx, s.cfg.Target, s.cfg.Source, CreateOptions{ClusterID: s.cfg.ClusterID, Now: s.cfg.Clock.Now})
		cancel()
		res.Duration = s.cfg.Clock.Now().Sub(res.Started)
		if res.Err == nil {
			var err error
			// Pruning finishes even when Run is being stopped, so that
			// a stop never leaves more backups than the retention keeps.
			pruneCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pruneTimeout)
			res.Pruned, err = Prune(pruneCtx, s.cfg.Target, s.cfg.Retention)
			cancel()
			if err != nil {
				log.Warn("prune backups", "target", s.cfg.Target.String(), "err", err)
			}
			res.Final = true
			log.Info("backup created", "name", res.Manifest.Name, "index", res.Manifest.Index,
				"bytes", res.Manifest.BodySize, "duration", res.Duration, "pruned", len(res.Pruned))
			s.report(res)
			return
		}
		res.Final = attempt > s.cfg.Retries || ctx.Err() != nil
		log.Warn("backup failed", "attempt", attempt, "target", s.cfg.Target.String(), "err", res.Err, "final", res.Final)
		s.report(res)
		if res.Final {
			return
		}
		if err := s.sleepUntil(ctx, s.cfg.Clock.Now().Add(backoff)); err != nil {
			return
		}
		backoff *= 2
	}
}

func (s *Scheduler) report(r Result) {
	if s.cfg.OnResult != nil {
		s.cfg.OnResult(r)
	}
}
