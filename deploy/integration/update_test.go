package integration

import (
	"context"
	"encoding/json"
	"errors"

	"net/http"
	"testing"
	"time"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// versions returns the version each running member's GET /v1/status
// reports.
func (tc *testCluster) versions(t *testing.T) map[uint64]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := tc.local.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]string{}
	for _, n := range st.Nodes {
		if !n.Member || !n.Running {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr+"/v1/status", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("status of node %d: %v", n.ID, err)
		}
		var body struct {
			Version string `json:"version"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("status of node %d: %v", n.ID, err)
		}
		out[n.ID] = body.Version
	}
	return out
}

// wantVersions fails unless exactly the members want runs, all on version.
func (tc *testCluster) wantVersions(t *testing.T, version string, members int) {
	t.Helper()
	got := tc.versions(t)
	if len(got) != members {
		t.Fatalf("%d members running (%v), want %d", len(got), got, members)
	}
	for id, v := range got {
		if v != version {
			t.Fatalf("node %d reports version %q, want %q (all: %v)", id, v, version, got)
		}
	}
}

// TestRollingUpdateAndScaleUnderLoad is the deployment's promise, with
// real processes: under a steady load of about 500 writes/s from clients
// that retry within their deadline, a rolling update from v1 to v2, a
// scale from 3 to 5 voters and back, and an update to a build that cannot
// start (halted by its health gate, then rolled back) all complete with no
// failed client operation and a linearizable history.
func TestRollingUpdateAndScaleUnderLoad(t *testing.T) {
	seed := testseed.Get(t)
	t.Logf("seed %d", seed)
	tc := newTestCluster(t, binV1, 3, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	timed := func(name string, fn func() error) (time.Time, time.Duration) {
		t.Helper()
		began := time.Now()
		err := fn()
		took := time.Since(began)
		if err != nil {
			t.Fatalf("%s after %v: %v", name, took, err)
		}
		t.Logf("STEP %s took %v", name, took.Round(time.Millisecond))
		return began, took
	}

	timed("up (bootstrap 3 nodes on v1)", func() error { return tc.local.Up(ctx) })
	tc.wantVersions(t, "v1.0.0-test", 3)

	lg := startLoad(t, tc.http, 500, 32, 4, seed)
	clustertest.WaitFor(t, "the load to get going", 30*time.Second, func() bool { return lg.acked.Load() >= 500 })

	var rep *deploy.UpdateReport
	updateStart, updateTook := timed("rolling update v1 -> v2", func() (err error) {
		rep, err = tc.local.RollingUpdate(ctx, binV2)
		return err
	})
	for _, s := range rep.Steps {
		t.Logf("  node %d: leader=%v transfer=%v stop=%v start+gate=%v", s.Node, s.Leader, s.Transfer.Round(time.Millisecond), s.Stop.Round(time.Millisecond), s.Gate.Round(time.Millisecond))
	}
	p99, n := lg.p99(updateStart, updateStart.Add(updateTook))
	t.Logf("FIGURE client during the update: %d writes acknowledged, %.0f writes/s, p99 %v", n, lg.rate(updateStart, updateStart.Add(updateTook)), p99.Round(time.Millisecond))
	if len(rep.Updated) != 3 || !rep.Steps[2].Leader {
		t.Fatalf("update order %v (steps %+v): want 3 nodes, the leader last", rep.Updated, rep.Steps)
	}
	tc.wantVersions(t, "v2.0.0-test", 3)

	timed("scale 3 -> 5", func() error { return tc.local.Scale(ctx, 5) })
	tc.wantVersions(t, "v2.0.0-test", 5)
	timed("scale 5 -> 3", func() error { return tc.local.Scale(ctx, 3) })
	tc.wantVersions(t, "v2.0.0-test", 3)

	// A build that exits at start: the first node's gate fails, the update
	// halts, and the cluster serves on v2 with the others.
	before := lg.acked.Load()
	_, err := tc.local.RollingUpdate(ctx, binBroken)
	var ge *deploy.GateError
	if !errors.As(err, &ge) || !errors.Is(err, deploy.ErrHealthGate) {
		t.Fatalf("update to a build that exits at start: %v, want a *GateError", err)
	}
	t.Logf("halted as expected: %v", err)
	clustertest.WaitFor(t, "writes to go on after the halted update", 30*time.Second, func() bool { return lg.acked.Load() >= before+200 })
	tc.wantVersions(t, "v2.0.0-test", 2)
	timed("rollback after the failed gate", func() error {
		_, err := tc.local.Rollback(ctx)
		return err
	})
	tc.wantVersions(t, "v2.0.0-test", 3)

	lg.stop()
	if f := lg.failures(); len(f) > 0 {
		t.Fatalf("%d client operations failed; first: %s", len(f), f[0])
	}
	t.Logf("FIGURE load: %d writes acknowledged in %v, 0 failed", lg.acked.Load(), time.Since(lg.start).Round(time.Millisecond))
	lg.checkLinearizable(t)
}
