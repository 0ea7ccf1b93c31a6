package observe

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Health is the outcome of a check, and of a report as a whole: the worst of
// its checks.
type Health string

const (
	// HealthOK: working as intended.
	HealthOK Health = "ok"
	// HealthDegraded: working, but something needs attention (a slow disk,
	// an election in progress). Liveness still passes.
	HealthDegraded Health = "degraded"
	// HealthFail: not working; /health answers 503.
	HealthFail Health = "fail"
)

func (h Health) rank() int {
	switch h {
	case HealthOK:
		return 0
	case HealthDegraded:
		return 1
	}
	return 2
}

// Check is one named health check. Run gets the node's Status, read once per
// report, and returns the check's outcome with a message a person can act
// on. Run must not block beyond ctx.
type Check struct {
	Name string
	Run  func(ctx context.Context, st raftcore.Status) (Health, string)
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name    string `json:"name"`
	Status  Health `json:"status"`
	Message string `json:"message"`
}

// Report is the outcome of a set of checks: /health and /ready serve it as
// JSON.
type Report struct {
	Status Health        `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// Default check names. AddCheck with one of these names replaces the default.
const (
	CheckNode     = "node"      // the node runs and is a member
	CheckLeader   = "leader"    // a leader is known (raft forgets it after an election timeout without contact)
	CheckStorage  = "storage"   // the log store saves, fast enough
	CheckQuorum   = "quorum"    // a quorum of voters is reachable (leader: answered recently; follower: a leader is known)
	CheckApplyLag = "apply_lag" // committed entries do not pile up unapplied
	CheckCaughtUp = "caught_up" // readiness: applied within ReadyMaxApplyLag of commit
	CheckWritable = "writable"  // readiness: a write made here now would be accepted (a live leader, no transfer)
)

// AddCheck adds c to the liveness checks of /health and Health, replacing a
// check of the same name (the defaults included). It returns an error
// wrapping ErrInvalidConfig if c has no name or no Run.
func (o *Observer) AddCheck(c Check) error {
	if c.Name == "" || c.Run == nil {
		return fmt.Errorf("%w: a check needs a Name and a Run function", ErrInvalidConfig)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if i := slices.IndexFunc(o.checks, func(x Check) bool { return x.Name == c.Name }); i >= 0 {
		o.checks[i] = c
		return nil
	}
	o.checks = append(o.checks, c)
	return nil
}

// RemoveCheck removes the check named name, if any.
func (o *Observer) RemoveCheck(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checks = slices.DeleteFunc(o.checks, func(x Check) bool { return x.Name == name })
}

// Health runs the liveness checks against the node's current Status. Before
// Attach it fails.
func (o *Observer) Health(ctx context.Context) Report {
	o.mu.Lock()
	checks := slices.Clone(o.checks)
	o.mu.Unlock()
	return o.run(ctx, checks)
}

// Ready runs the readiness checks: the node runs, a write made through it
// now would be accepted (it leads, or follows a leader it heard from within
// an election timeout, and no leadership transfer is refusing proposals),
// and it has applied what it knows to be committed (within
// ReadyMaxApplyLag), so its linearizable reads answer promptly.
func (o *Observer) Ready(ctx context.Context) Report {
	return o.run(ctx, []Check{
		{Name: CheckNode, Run: o.checkNode},
		{Name: CheckWritable, Run: o.checkWritable},
		{Name: CheckCaughtUp, Run: o.checkCaughtUp},
	})
}

func (o *Observer) run(ctx context.Context, checks []Check) Report {
	src := o.source()
	if src == nil {
		return Report{Status: HealthFail, Checks: []CheckResult{{Name: CheckNode, Status: HealthFail, Message: "no node attached"}}}
	}
	st := src.Status()
	if st.Leader != 0 {
		o.sawLeader(st.Leader)
	}
	rep := Report{Status: HealthOK, Checks: make([]CheckResult, 0, len(checks))}
	for _, c := range checks {
		h, msg := runCheck(ctx, c, st)
		rep.Checks = append(rep.Checks, CheckResult{Name: c.Name, Status: h, Message: msg})
		if h.rank() > rep.Status.rank() {
			rep.Status = h
		}
	}
	return rep
}

// runCheck runs c and turns a panic or an unknown status into a failure.
func runCheck(ctx context.Context, c Check, st raftcore.Status) (h Health, msg string) {
	defer func() {
		if r := recover(); r != nil {
			h, msg = HealthFail, fmt.Sprintf("check panicked: %v", r)
		}
	}()
	h, msg = c.Run(ctx, st)
	switch h {
	case HealthOK, HealthDegraded, HealthFail:
		return h, msg
	}
	return HealthFail, fmt.Sprintf("check returned unknown status %q: %s", h, msg)
}

func (o *Observer) defaultChecks() []Check {
	return []Check{
		{Name: CheckNode, Run: o.checkNode},
		{Name: CheckLeader, Run: o.checkLeader},
		{Name: CheckStorage, Run: o.checkStorage},
		{Name: CheckQuorum, Run: o.checkQuorum},
		{Name: CheckApplyLag, Run: o.checkApplyLag},
	}
}

// stoppable is implemented by *raftcore.Node: Err is non-nil once it stopped.
type stoppable interface{ Err() error }

func (o *Observer) checkNode(_ context.Context, st raftcore.Status) (Health, string) {
	if s, ok := o.source().(stoppable); ok {
		if err := s.Err(); err != nil {
			return HealthFail, fmt.Sprintf("node %d stopped: %v", st.ID, err)
		}
	}
	if st.Role == raftcore.RoleNone {
		return HealthFail, fmt.Sprintf("node %d is not a member of the cluster", st.ID)
	}
	return HealthOK, fmt.Sprintf("node %d is a %v", st.ID, st.Role)
}

// checkLeader passes while a leader is known. A follower forgets its leader
// when it has not heard from it for an election timeout, so a known leader
// is one heard from recently. Without one, the check is degraded for
// LeaderLostGrace (an election takes a few timeouts), then fails.
func (o *Observer) checkLeader(_ context.Context, st raftcore.Status) (Health, string) {
	if st.Leader != 0 {
		return HealthOK, leaderMessage(st)
	}
	o.mu.Lock()
	since := o.attachedAt
	if o.leaderSeen.After(since) {
		since = o.leaderSeen
	}
	o.mu.Unlock()
	lost := o.now().Sub(since).Round(time.Millisecond)
	if lost < o.cfg.LeaderLostGrace {
		return HealthDegraded, fmt.Sprintf("no leader known for %v (term %d): election in progress", lost, st.Term)
	}
	return HealthFail, fmt.Sprintf("no leader known for %v (term %d), longer than %v", lost, st.Term, o.cfg.LeaderLostGrace)
}

// checkWritable is readiness's view of the leader: a write made through
// this node now must reach a live leader that accepts proposals.
func (o *Observer) checkWritable(_ context.Context, st raftcore.Status) (Health, string) {
	switch {
	case st.Leader == 0:
		return HealthFail, fmt.Sprintf("no leader known (term %d)", st.Term)
	case !st.LeaderActive:
		return HealthFail, fmt.Sprintf("leader %d silent for an election timeout (term %d): it may be down", st.Leader, st.Term)
	case st.LeadTransferee != 0:
		return HealthFail, fmt.Sprintf("leadership moving to %d (term %d): writes wait until it ends", st.LeadTransferee, st.Term)
	}
	return HealthOK, leaderMessage(st)
}

func leaderMessage(st raftcore.Status) string {
	if st.Leader == st.ID {
		return fmt.Sprintf("this node leads (term %d)", st.Term)
	}
	return fmt.Sprintf("leader is %d (term %d)", st.Leader, st.Term)
}

func (o *Observer) checkStorage(_ context.Context, _ raftcore.Status) (Health, string) {
	s := o.saves.summary()
	switch {
	case s.err != nil:
		return HealthFail, fmt.Sprintf("log save failed at %s: %v", s.errAt.UTC().Format(time.RFC3339), s.err)
	case s.count == 0:
		return HealthOK, "no log saves yet"
	case s.p95 > o.cfg.MaxLogSaveLatency:
		return HealthDegraded, fmt.Sprintf("log saves slow: p95 %v over the last %d, threshold %v", s.p95, s.count, o.cfg.MaxLogSaveLatency)
	}
	return HealthOK, fmt.Sprintf("log saves p95 %v over the last %d", s.p95, s.count)
}

// checkQuorum: a follower relies on having a leader, which had a quorum to
// be elected and keeps one to stay leader. A leader counts the voters that
// answered in the current check-quorum round (itself included). raft resets
// that count every election timeout and steps the leader down when a round
// ends without a quorum, so a short count on the leader is only degraded:
// right after each reset it is normal until the next heartbeats answer. A
// quorum that stays lost makes the node a leaderless follower, which fails.
func (o *Observer) checkQuorum(_ context.Context, st raftcore.Status) (Health, string) {
	if st.Role != raftcore.RoleLeader {
		if st.Leader == 0 {
			return HealthFail, "no leader reachable: cannot reach a quorum"
		}
		return HealthOK, fmt.Sprintf("leader %d reachable", st.Leader)
	}
	var voters, active int
	for _, m := range st.Members {
		if m.Role != raftcore.MemberVoter {
			continue
		}
		voters++
		if m.RecentActive || m.ID == st.ID {
			active++
		}
	}
	if active <= voters/2 {
		return HealthDegraded, fmt.Sprintf("%d of %d voters answered this check-quorum round, quorum needs %d: the leader steps down if they stay silent", active, voters, voters/2+1)
	}
	if active < voters {
		return HealthDegraded, fmt.Sprintf("%d of %d voters reachable", active, voters)
	}
	return HealthOK, fmt.Sprintf("%d of %d voters reachable", active, voters)
}

func applyLag(st raftcore.Status) uint64 {
	if st.CommitIndex <= st.AppliedIndex {
		return 0
	}
	return st.CommitIndex - st.AppliedIndex
}

func (o *Observer) checkApplyLag(_ context.Context, st raftcore.Status) (Health, string) {
	lag := applyLag(st)
	if lag > o.cfg.MaxApplyLag {
		return HealthDegraded, fmt.Sprintf("%d committed entries not applied, threshold %d", lag, o.cfg.MaxApplyLag)
	}
	return HealthOK, fmt.Sprintf("%d committed entries not applied", lag)
}

func (o *Observer) checkCaughtUp(_ context.Context, st raftcore.Status) (Health, string) {
	lag := applyLag(st)
	if lag > o.cfg.ReadyMaxApplyLag {
		return HealthFail, fmt.Sprintf("applied %d of %d committed entries, more than %d behind", st.AppliedIndex, st.CommitIndex, o.cfg.ReadyMaxApplyLag)
	}
	return HealthOK, fmt.Sprintf("applied %d of %d committed entries", st.AppliedIndex, st.CommitIndex)
}

// saveWindow keeps the latest log save durations, bounded, for the storage
// check's percentile.
type saveWindow struct {
	mu    sync.Mutex
	ring  [saveWindowSize]time.Duration
	count int // saves recorded, capped at len(ring)
	next  int
	err   error
	errAt time.Time
}

const saveWindowSize = 128

// record adds one save; now is only read for a failure, to keep the clock
// off the path of every save.
func (w *saveWindow) record(d time.Duration, err error, now func() time.Time) {
	if err != nil {
		at := now()
		w.mu.Lock()
		w.err, w.errAt = err, at
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// A save that succeeded after a failure shows the store writable again.
	w.err = nil
	w.ring[w.next] = d
	w.next = (w.next + 1) % saveWindowSize
	w.count = min(w.count+1, saveWindowSize)
}

type saveSummary struct {
	count int
	p95   time.Duration
	err   error
	errAt time.Time
}

func (w *saveWindow) summary() saveSummary {
	w.mu.Lock()
	s := saveSummary{count: w.count, err: w.err, errAt: w.errAt}
	var sorted [saveWindowSize]time.Duration
	copy(sorted[:], w.ring[:w.count])
	w.mu.Unlock()
	if s.count == 0 {
		return s
	}
	slices.SortFunc(sorted[:s.count], cmp.Compare)
	s.p95 = sorted[(s.count*95+99)/100-1]
	return s
}
