package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/deploy/kube"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// podVersions returns the version each pod's GET /v1/status reports ("" for
// one that does not answer).
func podVersions(t *testing.T, fc *fakeController) []string {
	t.Helper()
	var out []string
	for _, addr := range fc.httpAddrs() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status", nil)
		v := ""
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Version string `json:"version"`
			}
			if json.NewDecoder(resp.Body).Decode(&body) == nil {
				v = body.Version
			}
			resp.Body.Close()
		}
		cancel()
		out = append(out, v)
	}
	return out
}

// TestKubernetesUpdateOfRealProcesses runs jangadactl's Kubernetes update
// (deploy.KubernetesDriver over kube.StatefulSet, i.e. client-go) against
// a fake API server whose StatefulSet controller runs the pods as real
// kvstore processes, under a load of about 300 writes/s: the update to v2
// steps the partition 2, 1, 0 with the leader last, an image whose
// container exits halts at its first pod with the others serving, the
// rollback restores it, and no client operation fails in a history
// porcupine finds linearizable.
func TestKubernetesUpdateOfRealProcesses(t *testing.T) {
	seed := testseed.Get(t)
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	cfg, err := deploy.Parse([]byte(`cluster_name: itest
environment: testing
replicas: 3
update: {max_lag: 500, health_timeout_seconds: 40, stop_timeout_seconds: 20}
kubernetes: {namespace: itest, image: "kvstore:v1"}
nodes:
  - {node_id: 1, hostname: 127.0.0.1, port: 7001, http_port: 8001}
  - {node_id: 2, hostname: 127.0.0.1, port: 7002, http_port: 8002}
  - {node_id: 3, hostname: 127.0.0.1, port: 7003, http_port: 8003}
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	fc, client := newFakeController(t, cfg, dir, map[string]string{"kvstore:v1": binV1, "kvstore:v2": binV2, "kvstore:broken": binBroken})
	sts, err := kube.New(kube.Config{Client: client, Namespace: "itest", Name: "itest"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	drv, err := deploy.NewKubernetesDriver(cfg, deploy.KubernetesDriverConfig{
		API:  sts,
		Dial: quicDial([]byte(clusterSecret)),
		Progress: func(p deploy.Progress) {
			t.Logf("[%6.2fs] %s", time.Since(start).Seconds(), p)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clustertest.WaitFor(t, "the pods to form a cluster on v1 and be ready", 90*time.Second, func() bool {
		st, err := sts.Get(ctx)
		if err != nil || len(st.Pods) != 3 {
			return false
		}
		for _, p := range st.Pods {
			if !p.Ready {
				return false
			}
		}
		return true
	})
	lg := startLoad(t, fc.httpAddrs(), 300, 16, 3, seed)
	clustertest.WaitFor(t, "the load to get going", 30*time.Second, func() bool { return lg.acked.Load() >= 300 })

	began := time.Now()
	rep, err := drv.RollingUpdate(ctx, "kvstore:v2")
	if err != nil {
		t.Fatalf("update to v2: %v", err)
	}
	took := time.Since(began)
	for _, s := range rep.Steps {
		t.Logf("  node %d: leader=%v transfer=%v restart+gate=%v", s.Node, s.Leader, s.Transfer.Round(time.Millisecond), s.Gate.Round(time.Millisecond))
	}
	p99, n := lg.p99(began, began.Add(took))
	t.Logf("FIGURE kubernetes update v1 -> v2 took %v; client: %d writes acknowledged, p99 %v", took.Round(time.Millisecond), n, p99.Round(time.Millisecond))
	if !slices.Equal(rep.Updated, []uint64{3, 2, 1}) || !rep.Steps[2].Leader || rep.Steps[0].Leader || rep.Steps[1].Leader {
		t.Fatalf("update steps %+v: want pods 2, 1, 0 with the leader last", rep.Steps)
	}
	if v := podVersions(t, fc); !slices.Equal(v, []string{"v2.0.0-test", "v2.0.0-test", "v2.0.0-test"}) {
		t.Fatalf("versions after the update: %v", v)
	}

	before := lg.acked.Load()
	_, err = drv.RollingUpdate(ctx, "kvstore:broken")
	var ge *deploy.GateError
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "container exited") || !strings.Contains(err.Error(), "kvstore-broken: refusing to start") {
		t.Fatalf("update to an image whose container exits: %v, want a *GateError with the container's exit", err)
	}
	t.Logf("halted as expected: %v", err)
	clustertest.WaitFor(t, "writes to go on after the halted update", 30*time.Second, func() bool { return lg.acked.Load() >= before+200 })
	if got := fc.images(); !slices.Equal(got, []string{"kvstore:v2", "kvstore:v2", "kvstore:broken"}) {
		t.Fatalf("images after the halt: %v, want the update stopped at pod 2", got)
	}
	rep, err = drv.Rollback(ctx)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if !slices.Equal(rep.Updated, []uint64{3}) {
		t.Fatalf("rollback restarted %v, want pod 2 (node 3) alone", rep.Updated)
	}
	if v := podVersions(t, fc); !slices.Equal(v, []string{"v2.0.0-test", "v2.0.0-test", "v2.0.0-test"}) {
		t.Fatalf("versions after the rollback: %v", v)
	}

	lg.stop()
	if f := lg.failures(); len(f) > 0 {
		t.Fatalf("%d client operations failed; first: %s", len(f), f[0])
	}
	t.Logf("FIGURE load: %d writes acknowledged in %v, 0 failed", lg.acked.Load(), time.Since(lg.start).Round(time.Millisecond))
	lg.checkLinearizable(t)
}
