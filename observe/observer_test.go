package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace/noop"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func TestProposalOutcomesAreCountedByResult(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ResultOK},
		{raftcore.ErrProposalDropped, ResultDropped},
		{fmt.Errorf("forward: %w", raftcore.ErrProposalDropped), ResultDropped},
		{&raftcore.NotLeaderError{LeaderID: 2}, ResultDropped},
		{raftcore.ErrBusy, ResultBusy},
		{context.DeadlineExceeded, ResultTimeout},
		{context.Canceled, ResultCanceled},
		{raftcore.ErrStopped, ResultStopped},
		{raftcore.ErrRemoved, ResultStopped},
		{errors.New("state machine said no"), ResultError},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v", tt.err), func(t *testing.T) {
			o := newTestObserver(t, Config{})
			_, done := o.Propose(context.Background(), 10)
			done(7, tt.err)
			for _, r := range proposalResults {
				want := 0.0
				if r == tt.want {
					want = 1
				}
				if got := testutil.ToFloat64(o.m.proposalsByResult.WithLabelValues(r)); got != want {
					t.Errorf("raft_proposals_total{result=%q} = %v, want %v", r, got, want)
				}
			}
			wantTimed := uint64(0)
			if tt.err == nil {
				wantTimed = 1
			}
			if got := histogramCount(t, o.m.proposalDuration); got != wantTimed {
				t.Errorf("raft_proposal_duration_seconds count = %d, want %d (successes only)", got, wantTimed)
			}
		})
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	return dtoMetric(t, h).GetHistogram().GetSampleCount()
}

func TestHooksFeedTheirHistograms(t *testing.T) {
	o := newTestObserver(t, Config{})
	o.LogSaved(3, 300, 2*time.Millisecond, nil)
	o.Applied(3, time.Millisecond)
	_, done := o.Read(context.Background())
	done(5, nil)
	_, done = o.Read(context.Background())
	done(0, context.Canceled)
	o.Snapshot(raftcore.SnapshotManual, time.Second, 1024, nil)
	o.Snapshot(raftcore.SnapshotSent, time.Second, 0, errors.New("peer went away"))

	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"log saves", histogramCount(t, o.m.logSaveDuration), 1},
		{"applies", histogramCount(t, o.m.applyDuration), 1},
		{"successful reads", histogramCount(t, o.m.readDuration), 1},
		{"manual snapshots", uint64(testutil.ToFloat64(o.m.snapshots.WithLabelValues("manual", ResultOK))), 1},
		{"failed sent snapshots", uint64(testutil.ToFloat64(o.m.snapshots.WithLabelValues("sent", ResultError))), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d observed, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestTracingOffLeavesTheCallersContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no provider", Config{}},
		{"noop provider", Config{TracerProvider: noop.NewTracerProvider()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newTestObserver(t, tc.cfg)
			type key struct{}
			ctx := context.WithValue(context.Background(), key{}, 1)
			if got, done := o.Propose(ctx, 1); got != ctx {
				t.Errorf("Propose returned a new context with tracing off")
			} else {
				done(1, nil)
			}
			if got, done := o.Read(ctx); got != ctx {
				t.Errorf("Read returned a new context with tracing off")
			} else {
				done(1, nil)
			}
		})
	}
}

func TestAttachOnceAndNotAfterClose(t *testing.T) {
	o := newTestObserver(t, Config{})
	n := newFakeNode(leaderStatus())
	if err := o.Attach(n); err != nil {
		t.Fatalf("first Attach: %v", err)
	}
	if err := o.Attach(n); !errors.Is(err, ErrAttached) {
		t.Errorf("second Attach = %v, want ErrAttached", err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	o2 := newTestObserver(t, Config{})
	_ = o2.Close()
	if err := o2.Attach(n); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close = %v, want ErrClosed", err)
	}
}

func TestLeaderChangesAreCountedFromEvents(t *testing.T) {
	o := newTestObserver(t, Config{})
	n := newFakeNode(followerStatus(1))
	if err := o.Attach(n); err != nil {
		t.Fatal(err)
	}
	n.events <- raftcore.Event{Type: raftcore.EventTermChanged, Term: 4}
	n.events <- raftcore.Event{Type: raftcore.EventLeaderElected, Leader: 3, Term: 4}
	n.events <- raftcore.Event{Type: raftcore.EventRoleChanged, Role: raftcore.RoleFollower}
	n.events <- raftcore.Event{Type: raftcore.EventLeaderElected, Leader: 2, Term: 5}
	clustertest.WaitFor(t, "two leader changes counted", 5*time.Second, func() bool {
		return testutil.ToFloat64(o.m.leaderChanges) == 2
	})
}

func TestBeforeAttachEndpointsSayNoNode(t *testing.T) {
	o := newTestObserver(t, Config{})
	h := o.Handler()
	tests := []struct {
		path string
		code int
	}{
		{"/health", http.StatusServiceUnavailable},
		{"/ready", http.StatusServiceUnavailable},
		{"/status", http.StatusServiceUnavailable},
		{"/metrics", http.StatusOK},
	}
	for _, tt := range tests {
		if code, body := get(t, h, tt.path); code != tt.code {
			t.Errorf("GET %s = HTTP %d (%s), want %d", tt.path, code, body, tt.code)
		}
	}
	_, body := get(t, h, "/metrics")
	if strings.Contains(string(body), "raft_current_term") {
		t.Errorf("/metrics exports raft_current_term with no node attached")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero config", Config{}, true},
		{"thresholds set", Config{LeaderLostGrace: time.Second, MaxLogSaveLatency: time.Millisecond, MaxApplyLag: 5, ReadyMaxApplyLag: 1}, true},
		{"negative grace", Config{LeaderLostGrace: -time.Second}, false},
		{"negative save latency", Config{MaxLogSaveLatency: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want it to wrap ErrInvalidConfig", err)
			}
			if _, err := New(tt.cfg); tt.ok != (err == nil) {
				t.Errorf("New() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSharedRegistryRejectsASecondObserver(t *testing.T) {
	reg := prometheus.NewRegistry()
	newTestObserver(t, Config{Registry: reg})
	if _, err := New(Config{Registry: reg}); err == nil {
		t.Fatal("a second Observer on the same registry was accepted; its metrics would collide")
	}
}

func TestMetricsFollowPrometheusConventions(t *testing.T) {
	o := exercisedObserver(t)
	problems, err := testutil.GatherAndLint(o.Registry())
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "raft_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
