package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	kvstore "github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// otlpReceiver is an in-process OTLP/HTTP trace collector: it decodes every
// export request and keeps the spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || req.URL.Path != "/v1/traces" {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	var export coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &export); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// span returns the received span named name whose int attribute key is
// value, if any.
func (r *otlpReceiver) span(name, key string, value int64) *tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		if s.GetName() != name {
			continue
		}
		for _, kv := range s.GetAttributes() {
			if kv.GetKey() == key && kv.GetValue().GetIntValue() == value {
				return s
			}
		}
	}
	return nil
}

func stringAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// TestNodesExportTracesFromTheStandardEnvironment runs a cluster whose
// nodes are told by OTEL_* variables to export to an in-process collector:
// a write through a follower and one through the leader each arrive as a
// raft.propose span carrying the entry's index and its result, with an event
// when the entry committed (replicated to a quorum) before the span ended at
// apply, and a linearizable read as a raft.read span.
func TestNodesExportTracesFromTheStandardEnvironment(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: export promptly
	t.Setenv("OTEL_SERVICE_NAME", "kvstore-e2e")

	c := newCluster(t, 3, "pebble")
	leader := c.WaitLeader(20 * time.Second)
	follower := uint64(1)
	if follower == leader {
		follower = 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []uint64{follower, leader} {
		index, err := c.Node(id).Client.Put(ctx, "traced", []byte("v"), kvstore.WriteOptions{})
		if err != nil {
			t.Fatalf("put through node %d: %v", id, err)
		}
		var s *tracepb.Span
		clustertest.WaitFor(t, "the proposal's span at the collector", 20*time.Second, func() bool {
			s = recv.span("raft.propose", "raft.index", int64(index))
			return s != nil
		})
		if got := stringAttr(s, "raft.result"); got != "ok" {
			t.Errorf("node %d: raft.propose span of index %d has raft.result %q, want ok", id, index, got)
		}
		if s.GetEndTimeUnixNano() <= s.GetStartTimeUnixNano() {
			t.Errorf("node %d: raft.propose span has no duration", id)
		}
		// Propose → replicate → apply: the commit is an event inside the span.
		var committed bool
		for _, ev := range s.GetEvents() {
			committed = committed || ev.GetName() == "raft.committed"
		}
		if !committed {
			t.Errorf("node %d: raft.propose span of index %d has no raft.committed event", id, index)
		}
	}
	if _, _, err := c.Node(follower).Client.Get(ctx, "traced", false); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, "the read's span at the collector", 20*time.Second, func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for _, s := range recv.spans {
			if s.GetName() == "raft.read" {
				return true
			}
		}
		return false
	})
}
