package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/trace"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// fakeNode is a NodeSource whose Status a test sets.
type fakeNode struct {
	mu     sync.Mutex
	st     raftcore.Status
	err    error
	events chan raftcore.Event
}

func newFakeNode(st raftcore.Status) *fakeNode {
	return &fakeNode{st: st, events: make(chan raftcore.Event, 16)}
}

func (f *fakeNode) Status() raftcore.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeNode) Subscribe(context.Context) <-chan raftcore.Event { return f.events }

func (f *fakeNode) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeNode) set(st raftcore.Status) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

// leaderStatus is node 1 leading a three-voter cluster in which the members
// listed in inactive have not answered recently.
func leaderStatus(inactive ...uint64) raftcore.Status {
	st := raftcore.Status{ID: 1, Role: raftcore.RoleLeader, Leader: 1, LeaderActive: true, Term: 3, CommitIndex: 10, AppliedIndex: 10}
	for id := uint64(1); id <= 3; id++ {
		m := raftcore.MemberStatus{Peer: raftcore.Peer{ID: id, Addr: fmt.Sprintf("node-%d", id)}, Role: raftcore.MemberVoter, Match: 10, Next: 11, State: "replicate", RecentActive: true}
		for _, x := range inactive {
			if x == id {
				m.RecentActive = false
			}
		}
		st.Members = append(st.Members, m)
	}
	return st
}

// followerStatus is node 2 following leader 1 (0: no leader known).
func followerStatus(leader uint64) raftcore.Status {
	st := leaderStatus()
	st.ID, st.Role, st.Leader, st.LeaderActive = 2, raftcore.RoleFollower, leader, leader != 0
	for i := range st.Members {
		st.Members[i].Match, st.Members[i].Next, st.Members[i].State, st.Members[i].RecentActive = 0, 0, "", false
	}
	return st
}

func newTestObserver(t testing.TB, cfg Config) *Observer {
	t.Helper()
	o, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// get serves one request to h and returns the status code and body.
func get(t testing.TB, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.Bytes()
}

func decodeReport(t testing.TB, body []byte) Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("decode report %s: %v", body, err)
	}
	return rep
}

func (r Report) check(name string) CheckResult {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return CheckResult{Name: name, Status: "missing"}
}

// families is a parsed /metrics page.
type families map[string]*dto.MetricFamily

func parseMetrics(t testing.TB, r io.Reader) families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// value returns the value of the series of name with the given label pairs
// (a histogram's sample count), and whether it exists.
func (f families) value(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// observedCluster is a three-node loopback cluster whose nodes each have an
// Observer (with instrumented transport) served over HTTP.
type observedCluster struct {
	*clustertest.Cluster[clustertest.KVCommand, clustertest.KVResult]
	t      testing.TB
	mu     sync.Mutex
	obs    map[uint64]*Observer
	srv    map[uint64]*httptest.Server
	client *http.Client
}

// newObservedCluster starts the cluster; tracerFor, when set, gives each
// node its TracerProvider.
func newObservedCluster(t testing.TB, tracerFor func(id uint64) trace.TracerProvider) *observedCluster {
	t.Helper()
	oc := &observedCluster{t: t, obs: map[uint64]*Observer{}, srv: map[uint64]*httptest.Server{}}
	t.Cleanup(oc.closeServers)
	opts := clustertest.Options{
		NewNetwork: clustertest.NewLoopback,
		Configure: func(cfg *raftcore.Config) {
			var tp trace.TracerProvider
			if tracerFor != nil {
				tp = tracerFor(cfg.NodeID)
			}
			o := newTestObserver(t, Config{TracerProvider: tp, LeaderLostGrace: 300 * time.Millisecond})
			oc.mu.Lock()
			oc.obs[cfg.NodeID] = o
			oc.mu.Unlock()
			cfg.Observer = o
			cfg.Transport = o.InstrumentTransport(cfg.Transport)
		},
	}
	oc.Cluster = clustertest.NewCluster(t, opts, 3,
		func() raftcore.StateMachine[clustertest.KVCommand, clustertest.KVResult] { return clustertest.NewKV() },
		clustertest.JSONCodec[clustertest.KVCommand]{})
	for _, id := range oc.Running() {
		o := oc.observer(id)
		if err := o.Attach(oc.Node(id)); err != nil {
			t.Fatalf("attach node %d: %v", id, err)
		}
		srv := httptest.NewServer(o.Handler())
		oc.mu.Lock()
		oc.srv[id] = srv
		oc.client = srv.Client()
		oc.mu.Unlock()
	}
	return oc
}

func (oc *observedCluster) closeServers() {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	for _, s := range oc.srv {
		s.Close()
	}
}

func (oc *observedCluster) observer(id uint64) *Observer {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.obs[id]
}

// fetch GETs path from node id's server.
func (oc *observedCluster) fetch(id uint64, path string) (int, []byte) {
	oc.t.Helper()
	oc.mu.Lock()
	url := oc.srv[id].URL + path
	oc.mu.Unlock()
	resp, err := oc.client.Get(url)
	if err != nil {
		oc.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		oc.t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, body
}

func (oc *observedCluster) scrape(id uint64) families {
	oc.t.Helper()
	code, body := oc.fetch(id, "/metrics")
	if code != http.StatusOK {
		oc.t.Fatalf("node %d /metrics: HTTP %d: %s", id, code, body)
	}
	return parseMetrics(oc.t, bytes.NewReader(body))
}

// metric returns one series' value on node id, failing if it is absent.
func (oc *observedCluster) metric(id uint64, name string, labels ...string) float64 {
	oc.t.Helper()
	v, ok := oc.scrape(id).value(name, labels...)
	if !ok {
		oc.t.Fatalf("node %d: no series %s%v", id, name, labels)
	}
	return v
}

func (oc *observedCluster) others(id uint64) []uint64 {
	var out []uint64
	for _, x := range oc.Running() {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

func put(key, value string) clustertest.KVCommand {
	return clustertest.KVCommand{Op: "put", Key: key, Value: value}
}

func dtoMetric(t testing.TB, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("write metric: %v", err)
	}
	return &pb
}

// exercisedObserver returns an Observer attached to a leading fake node
// whose every metric has at least one series.
func exercisedObserver(t testing.TB) *Observer {
	t.Helper()
	o := newTestObserver(t, Config{})
	if err := o.Attach(newFakeNode(leaderStatus())); err != nil {
		t.Fatal(err)
	}
	_, done := o.Propose(context.Background(), 8)
	done(1, nil)
	_, done = o.Read(context.Background())
	done(1, nil)
	o.LogSaved(1, 8, time.Millisecond, nil)
	o.Applied(1, time.Millisecond)
	o.Snapshot(raftcore.SnapshotAuto, time.Millisecond, 100, nil)
	o.m.leaderChanges.Inc()
	tr := o.InstrumentTransport(&fakeTransport{})
	if err := tr.Start(&fakeHandler{}); err != nil {
		t.Fatal(err)
	}
	tr.Send(testMessages(2))
	o.m.transportErrors.WithLabelValues("2", TransportUnreachable).Inc()
	return o
}
