package observe

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestHealthChecks(t *testing.T) {
	slow := func(o *Observer) {
		for range saveWindowSize {
			o.LogSaved(1, 10, 500*time.Millisecond, nil)
		}
	}
	tests := []struct {
		name    string
		status  raftcore.Status
		stopped error
		prepare func(o *Observer, clock *manualClock)
		want    map[string]Health
		overall Health
	}{
		{
			name:    "healthy leader",
			status:  leaderStatus(),
			want:    map[string]Health{CheckNode: HealthOK, CheckLeader: HealthOK, CheckStorage: HealthOK, CheckQuorum: HealthOK, CheckApplyLag: HealthOK},
			overall: HealthOK,
		},
		{
			name:    "healthy follower",
			status:  followerStatus(1),
			want:    map[string]Health{CheckLeader: HealthOK, CheckQuorum: HealthOK},
			overall: HealthOK,
		},
		{
			name:    "leader missing one of three voters",
			status:  leaderStatus(3),
			want:    map[string]Health{CheckQuorum: HealthDegraded},
			overall: HealthDegraded,
		},
		{
			// raft steps the leader down if this lasts an election timeout.
			name:    "leader whose voters have not answered this round",
			status:  leaderStatus(2, 3),
			want:    map[string]Health{CheckQuorum: HealthDegraded, CheckLeader: HealthOK},
			overall: HealthDegraded,
		},
		{
			name:    "no leader during the grace period",
			status:  followerStatus(0),
			prepare: func(_ *Observer, c *manualClock) { c.Advance(time.Second) },
			want:    map[string]Health{CheckLeader: HealthDegraded, CheckQuorum: HealthFail},
			overall: HealthFail,
		},
		{
			name:    "no leader past the grace period",
			status:  followerStatus(0),
			prepare: func(_ *Observer, c *manualClock) { c.Advance(time.Minute) },
			want:    map[string]Health{CheckLeader: HealthFail},
			overall: HealthFail,
		},
		{
			name: "apply lag over threshold",
			status: func() raftcore.Status {
				st := followerStatus(1)
				st.CommitIndex = 5000
				st.AppliedIndex = 10
				return st
			}(),
			want:    map[string]Health{CheckApplyLag: HealthDegraded},
			overall: HealthDegraded,
		},
		{
			name:    "slow log saves",
			status:  followerStatus(1),
			prepare: func(o *Observer, _ *manualClock) { slow(o) },
			want:    map[string]Health{CheckStorage: HealthDegraded},
			overall: HealthDegraded,
		},
		{
			name:   "a few slow saves among fast ones",
			status: followerStatus(1),
			prepare: func(o *Observer, _ *manualClock) {
				for i := range 100 {
					d := time.Millisecond
					if i%50 == 0 {
						d = time.Second
					}
					o.LogSaved(1, 10, d, nil)
				}
			},
			want:    map[string]Health{CheckStorage: HealthOK},
			overall: HealthOK,
		},
		{
			name:    "failed log save",
			status:  followerStatus(1),
			prepare: func(o *Observer, _ *manualClock) { o.LogSaved(1, 10, time.Millisecond, errors.New("disk full")) },
			want:    map[string]Health{CheckStorage: HealthFail},
			overall: HealthFail,
		},
		{
			name:    "removed node",
			status:  func() raftcore.Status { st := followerStatus(1); st.Role = raftcore.RoleNone; return st }(),
			want:    map[string]Health{CheckNode: HealthFail},
			overall: HealthFail,
		},
		{
			name:    "stopped node",
			status:  followerStatus(1),
			stopped: raftcore.ErrStopped,
			want:    map[string]Health{CheckNode: HealthFail},
			overall: HealthFail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
			o := newTestObserver(t, Config{LeaderLostGrace: 5 * time.Second})
			o.now = clock.Now
			n := newFakeNode(tt.status)
			n.err = tt.stopped
			if err := o.Attach(n); err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				tt.prepare(o, clock)
			}
			rep := o.Health(context.Background())
			for name, want := range tt.want {
				if got := rep.check(name); got.Status != want || got.Message == "" {
					t.Errorf("check %s = %+v, want %s with a message", name, got, want)
				}
			}
			if rep.Status != tt.overall {
				t.Errorf("overall = %s, want %s (%+v)", rep.Status, tt.overall, rep.Checks)
			}
		})
	}
}

func TestLeaderCheckCountsFromTheLastLeaderSeen(t *testing.T) {
	clock := &manualClock{now: time.Unix(1_700_000_000, 0)}
	o := newTestObserver(t, Config{LeaderLostGrace: 5 * time.Second})
	o.now = clock.Now
	n := newFakeNode(followerStatus(1))
	if err := o.Attach(n); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if got := o.Health(context.Background()).check(CheckLeader).Status; got != HealthOK {
		t.Fatalf("leader check with a leader = %s", got)
	}
	n.set(followerStatus(0))
	clock.Advance(4 * time.Second)
	if got := o.Health(context.Background()).check(CheckLeader).Status; got != HealthDegraded {
		t.Errorf("4s after losing the leader: %s, want degraded", got)
	}
	clock.Advance(2 * time.Second)
	if got := o.Health(context.Background()).check(CheckLeader).Status; got != HealthFail {
		t.Errorf("6s after losing the leader: %s, want fail", got)
	}
}

func TestHealthEndpointStatusCodes(t *testing.T) {
	tests := []struct {
		name   string
		status raftcore.Status
		code   int
		health Health
	}{
		{"ok", leaderStatus(), http.StatusOK, HealthOK},
		{"degraded", leaderStatus(3), http.StatusOK, HealthDegraded},
		{"fail", followerStatus(0), http.StatusServiceUnavailable, HealthFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestObserver(t, Config{})
			if err := o.Attach(newFakeNode(tt.status)); err != nil {
				t.Fatal(err)
			}
			code, body := get(t, o.Handler(), "/health")
			if code != tt.code {
				t.Errorf("HTTP %d, want %d", code, tt.code)
			}
			rep := decodeReport(t, body)
			if rep.Status != tt.health || len(rep.Checks) != 5 {
				t.Errorf("report %+v, want %s with 5 checks", rep, tt.health)
			}
			for _, key := range []string{`"status"`, `"checks"`, `"name"`, `"message"`} {
				if !strings.Contains(string(body), key) {
					t.Errorf("body lacks %s: %s", key, body)
				}
			}
		})
	}
}

func TestReadyRequiresLeaderAndCaughtUp(t *testing.T) {
	behind := followerStatus(1)
	behind.CommitIndex, behind.AppliedIndex = 500, 10
	silent := followerStatus(1)
	silent.LeaderActive = false
	transferring := leaderStatus()
	transferring.LeadTransferee = 3
	tests := []struct {
		name   string
		status raftcore.Status
		code   int
	}{
		{"follower caught up", followerStatus(1), http.StatusOK},
		{"leader", leaderStatus(), http.StatusOK},
		{"no leader", followerStatus(0), http.StatusServiceUnavailable},
		{"leader silent for an election timeout", silent, http.StatusServiceUnavailable},
		{"leadership transfer in progress", transferring, http.StatusServiceUnavailable},
		{"far behind", behind, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newTestObserver(t, Config{ReadyMaxApplyLag: 100})
			if err := o.Attach(newFakeNode(tt.status)); err != nil {
				t.Fatal(err)
			}
			if code, body := get(t, o.Handler(), "/ready"); code != tt.code {
				t.Errorf("/ready = HTTP %d (%s), want %d", code, body, tt.code)
			}
		})
	}
}

func TestCustomChecks(t *testing.T) {
	o := newTestObserver(t, Config{})
	if err := o.Attach(newFakeNode(leaderStatus())); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Check{{Name: "x"}, {Run: func(context.Context, raftcore.Status) (Health, string) { return HealthOK, "" }}} {
		if err := o.AddCheck(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("AddCheck(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	add := func(name string, run func(context.Context, raftcore.Status) (Health, string)) {
		t.Helper()
		if err := o.AddCheck(Check{Name: name, Run: run}); err != nil {
			t.Fatal(err)
		}
	}
	add("disk_space", func(context.Context, raftcore.Status) (Health, string) { return HealthDegraded, "80% full" })
	add(CheckStorage, func(context.Context, raftcore.Status) (Health, string) { return HealthOK, "replaced" })
	add("panics", func(context.Context, raftcore.Status) (Health, string) { panic("boom") })
	add("invents", func(context.Context, raftcore.Status) (Health, string) { return "maybe", "?" })

	rep := o.Health(context.Background())
	tests := []struct {
		check string
		want  Health
		msg   string
	}{
		{"disk_space", HealthDegraded, "80% full"},
		{CheckStorage, HealthOK, "replaced"},
		{"panics", HealthFail, "check panicked: boom"},
		{"invents", HealthFail, `unknown status "maybe"`},
	}
	for _, tt := range tests {
		if got := rep.check(tt.check); got.Status != tt.want || !strings.Contains(got.Message, tt.msg) {
			t.Errorf("check %s = %+v, want %s %q", tt.check, got, tt.want, tt.msg)
		}
	}
	if len(rep.Checks) != 8 {
		t.Errorf("%d checks, want 5 defaults + 3 added (one replaced)", len(rep.Checks))
	}
	o.RemoveCheck("panics")
	o.RemoveCheck("invents")
	if got := o.Health(context.Background()).Status; got != HealthDegraded {
		t.Errorf("after removing the failing checks: %s, want degraded", got)
	}
}
