package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Defaults for AutopilotConfig's zero values.
const (
	DefaultMaxLag            = 256
	DefaultStabilizationTime = 3 * time.Second
	DefaultMinVoters         = 3
	DefaultCheckInterval     = time.Second
)

// AutopilotConfig configures the autopilot, which runs on the leader:
// learners that asked for promotion (a voter ticket, or nodes formed by
// bootstrap-expect) become voters once caught up, and, when enabled, voters
// that stayed unreachable are removed as long as that keeps the fault
// tolerance asked for. Zero values mean the documented defaults.
type AutopilotConfig struct {
	// DisablePromotion keeps learners learners: promotion requests are
	// refused until an operator promotes (jangadactl member promote).
	DisablePromotion bool
	// MaxLag is how many entries behind the leader's commit index a learner
	// may be to count as caught up. Default: 256.
	MaxLag uint64
	// StabilizationTime is how long a learner must stay caught up before it
	// is promoted. Default: 3s.
	StabilizationTime time.Duration
	// DeadVoterTimeout, when positive, removes a voter the leader has not
	// heard from for that long, if MinVoters voters remain and the voters
	// still reachable keep a quorum of the smaller configuration. Default:
	// 0, off: a dead voter stays until an operator removes it.
	DeadVoterTimeout time.Duration
	// MinVoters is the fewest voters dead-voter removal leaves. Default: 3.
	MinVoters int
	// CheckInterval is how often Run looks for dead voters. Default: 1s.
	CheckInterval time.Duration
}

// Validate reports the first problem with c, wrapping ErrInvalid.
func (c AutopilotConfig) Validate() error {
	if c.StabilizationTime < 0 || c.DeadVoterTimeout < 0 || c.MinVoters < 0 || c.CheckInterval < 0 {
		return fmt.Errorf("%w: autopilot durations and MinVoters must not be negative", ErrInvalid)
	}
	return nil
}

func (c AutopilotConfig) withDefaults() AutopilotConfig {
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.StabilizationTime == 0 {
		c.StabilizationTime = DefaultStabilizationTime
	}
	if c.MinVoters == 0 {
		c.MinVoters = DefaultMinVoters
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	return c
}

// Autopilot decides promotions and dead-voter removals on the leader. It
// keeps what it observed in memory: a new leader starts observing afresh,
// which only delays a decision.
type Autopilot struct {
	cfg AutopilotConfig
	now func() time.Time
	log *slog.Logger

	mu          sync.Mutex
	node        mgmt.Node
	caughtUp    map[uint64]time.Time // learner -> since when it is within MaxLag
	unreachable map[uint64]time.Time // voter -> since when the leader has not heard from it
	kept        map[uint64]bool      // dead voters kept for fault tolerance, logged once
}

func newAutopilot(cfg AutopilotConfig, now func() time.Time, log *slog.Logger) *Autopilot {
	return &Autopilot{cfg: cfg, now: now, log: log, caughtUp: map[uint64]time.Time{}, unreachable: map[uint64]time.Time{}, kept: map[uint64]bool{}}
}

func (a *Autopilot) setNode(n mgmt.Node) {
	a.mu.Lock()
	a.node = n
	a.mu.Unlock()
}

// consider promotes learner id if it has been caught up for the
// stabilization time. It reports whether id is a voter now and, if not,
// its lag.
func (a *Autopilot) consider(ctx context.Context, node mgmt.Node, id uint64) (voter bool, lag uint64, err error) {
	st := node.Status()
	var m *raftcore.MemberStatus
	for i := range st.Members {
		if st.Members[i].ID == id {
			m = &st.Members[i]
		}
	}
	switch {
	case m == nil:
		return false, 0, fmt.Errorf("%w: node %d is not a member", ErrInvalid, id)
	case m.Role == raftcore.MemberVoter:
		return true, 0, nil
	case a.cfg.DisablePromotion:
		return false, 0, fmt.Errorf("%w: automatic promotion is off: an operator promotes node %d", ErrUnauthorized, id)
	}
	lag = st.CommitIndex
	if m.Match < st.CommitIndex {
		lag = st.CommitIndex - m.Match
	} else if m.Match > 0 {
		lag = 0
	}
	a.mu.Lock()
	since, seen := a.caughtUp[id]
	now := a.now()
	if m.Match == 0 || lag > a.cfg.MaxLag {
		delete(a.caughtUp, id)
		a.mu.Unlock()
		return false, lag, nil
	}
	if !seen {
		a.caughtUp[id] = now
		since = now
	}
	a.mu.Unlock()
	if now.Sub(since) < a.cfg.StabilizationTime {
		return false, lag, nil
	}
	if err := node.PromoteLearner(ctx, id); err != nil {
		if errors.Is(err, raftcore.ErrConfChangeInProgress) {
			return false, lag, nil
		}
		return false, lag, fmt.Errorf("%w: promote %d: %w", ErrUnavailable, id, err)
	}
	a.mu.Lock()
	delete(a.caughtUp, id)
	a.mu.Unlock()
	a.log.Info("autopilot promoted a learner", "node", id, "lag", lag)
	return true, 0, nil
}

// Run removes dead voters (AutopilotConfig.DeadVoterTimeout) until ctx
// ends; with the removal off it returns at once.
func (a *Autopilot) Run(ctx context.Context) {
	if a.cfg.DeadVoterTimeout <= 0 {
		return
	}
	t := time.NewTicker(a.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.checkDeadVoters(ctx)
		}
	}
}

// checkDeadVoters removes at most one voter that has been unreachable for
// DeadVoterTimeout, if that leaves MinVoters voters of which a quorum is
// reachable.
func (a *Autopilot) checkDeadVoters(ctx context.Context) {
	a.mu.Lock()
	node := a.node
	a.mu.Unlock()
	if node == nil {
		return
	}
	st := node.Status()
	if st.Role != raftcore.RoleLeader {
		a.mu.Lock()
		clear(a.unreachable)
		a.mu.Unlock()
		return
	}
	now := a.now()
	voters, reachable := 0, 0
	var dead []uint64
	a.mu.Lock()
	for _, m := range st.Members {
		if m.Role != raftcore.MemberVoter {
			continue
		}
		voters++
		if m.ID == st.ID || m.RecentActive {
			reachable++
			delete(a.unreachable, m.ID)
			delete(a.kept, m.ID)
			continue
		}
		since, ok := a.unreachable[m.ID]
		if !ok {
			a.unreachable[m.ID] = now
			continue
		}
		if now.Sub(since) >= a.cfg.DeadVoterTimeout {
			dead = append(dead, m.ID)
		}
	}
	a.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	remaining := voters - 1
	if remaining < a.cfg.MinVoters || reachable <= remaining/2 {
		a.mu.Lock()
		logged := a.kept[dead[0]]
		a.kept[dead[0]] = true
		a.mu.Unlock()
		if !logged {
			a.log.Warn("autopilot keeps a dead voter: removing it would leave too few voters", "node", dead[0], "voters", voters, "reachable", reachable, "min_voters", a.cfg.MinVoters)
		}
		return
	}
	if err := node.RemoveMember(ctx, dead[0]); err != nil {
		a.log.Warn("autopilot could not remove a dead voter", "node", dead[0], "err", err)
		return
	}
	a.mu.Lock()
	delete(a.unreachable, dead[0])
	a.mu.Unlock()
	a.log.Warn("autopilot removed a dead voter", "node", dead[0], "unreachable_for", a.cfg.DeadVoterTimeout)
}
