package observe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func spanNamed(spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	return attrOf(s.Attributes(), key)
}

func attrOf(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestClusterSpansAreChildrenOfTheCallersSpan(t *testing.T) {
	var mu sync.Mutex
	recorders := map[uint64]*tracetest.SpanRecorder{}
	oc := newObservedCluster(t, func(id uint64) trace.TracerProvider {
		rec := tracetest.NewSpanRecorder()
		mu.Lock()
		recorders[id] = rec
		mu.Unlock()
		return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	})
	follower := oc.Follower()
	rec := recorders[follower.ID()]
	caller := sdktrace.NewTracerProvider().Tracer("test")
	ctx := clustertest.Context(t, clusterWait)

	ctx, parent := caller.Start(ctx, "handle request")
	res, err := follower.Propose(ctx, put("k", "v"))
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if err := follower.Read(ctx, func() error { return nil }); err != nil {
		t.Fatalf("read: %v", err)
	}
	parent.End()
	if _, err := follower.Snapshot(ctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	spans := rec.Ended()
	tests := []struct {
		span  string
		attrs map[string]attribute.Value
		child bool
	}{
		{"raft.propose", map[string]attribute.Value{
			"raft.index":        attribute.Int64Value(int64(res.Index)),
			"raft.command.size": attribute.IntValue(len(`{"op":"put","key":"k","value":"v"}`)),
			"raft.result":       attribute.StringValue(ResultOK),
		}, true},
		{"raft.read", map[string]attribute.Value{"raft.result": attribute.StringValue(ResultOK)}, true},
		{"raft.snapshot", map[string]attribute.Value{
			"raft.snapshot.kind": attribute.StringValue(string(raftcore.SnapshotManual)),
			"raft.result":        attribute.StringValue(ResultOK),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.span, func(t *testing.T) {
			s := spanNamed(spans, tt.span)
			if s == nil {
				t.Fatalf("no %s span among %d", tt.span, len(spans))
			}
			if tt.child {
				if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
					t.Errorf("%s parent = %v, want the caller's span %v", tt.span, s.Parent().SpanID(), parent.SpanContext().SpanID())
				}
			}
			for k, want := range tt.attrs {
				if got, ok := attr(s, k); !ok || got != want {
					t.Errorf("%s attribute %s = %v (present %v), want %v", tt.span, k, got.String(), ok, want.String())
				}
			}
			if !s.EndTime().After(s.StartTime()) {
				t.Errorf("%s ends %v, not after its start %v", tt.span, s.EndTime(), s.StartTime())
			}
		})
	}
	// The proposal's span shows it replicated (committed) before it ended
	// with the apply result.
	if s := spanNamed(spans, "raft.propose"); s != nil {
		var committed bool
		for _, ev := range s.Events() {
			if ev.Name != "raft.committed" {
				continue
			}
			committed = true
			if v, ok := attrOf(ev.Attributes, "raft.index"); !ok || v.AsInt64() != int64(res.Index) {
				t.Errorf("raft.committed event index = %v, want %d", v.AsInt64(), res.Index)
			}
			if ev.Time.Before(s.StartTime()) || ev.Time.After(s.EndTime()) {
				t.Errorf("raft.committed at %v, outside the span [%v, %v]", ev.Time, s.StartTime(), s.EndTime())
			}
		}
		if !committed {
			t.Errorf("raft.propose span has no raft.committed event: %v", s.Events())
		}
	}
	if s := spanNamed(spans, "raft.read"); s != nil {
		if v, _ := attr(s, "raft.read_index"); v.AsInt64() < int64(res.Index) {
			t.Errorf("read index %d, want >= the write's index %d", v.AsInt64(), res.Index)
		}
	}
}

func TestFailedProposalSpanRecordsTheError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	o := newTestObserver(t, Config{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))})
	ctx, done := o.Propose(context.Background(), 42)
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		t.Fatal("the proposal's context carries no span")
	}
	done(0, raftcore.ErrProposalDropped)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Status().Code != codes.Error {
		t.Errorf("status %v, want Error", s.Status())
	}
	if v, _ := attr(s, "raft.result"); v.AsString() != ResultDropped {
		t.Errorf("result %q, want %q", v.AsString(), ResultDropped)
	}
	if len(s.Events()) != 1 || s.Events()[0].Name != "exception" {
		t.Errorf("events %v, want the recorded error", s.Events())
	}
}

// clearOTelEnv unsets every variable NewTracerProviderFromEnv reads.
func clearOTelEnv(t *testing.T) {
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	} {
		t.Setenv(k, "")
	}
}

func TestTracerProviderFromEnvIsOffOrRefuses(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr error
	}{
		{"no endpoint", nil, nil},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, nil},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, nil},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ErrTracingConfig},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ErrTracingConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tp, shutdown, err := NewTracerProviderFromEnv(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := tp.(noop.TracerProvider); !ok {
				t.Errorf("provider %T, want the no-op provider", tp)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if o := newTestObserver(t, Config{TracerProvider: tp}); o.tracer != nil {
				t.Error("an Observer given the no-op provider still traces")
			}
		})
	}
}

func TestTracerProviderFromEnvExportsOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var requests []*http.Request
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests = append(requests, r)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	tp, shutdown, err := NewTracerProviderFromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o := newTestObserver(t, Config{TracerProvider: tp})
	_, done := o.Propose(context.Background(), 1)
	done(1, nil)
	if err := shutdown(clustertest.Context(t, clusterWait)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) == 0 {
		t.Fatal("no export request reached the collector")
	}
	if r := requests[0]; r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		t.Errorf("export %s %s, want POST /v1/traces", r.Method, r.URL.Path)
	}
}

func TestTracerProviderFromEnvBuildsGRPCExporter(t *testing.T) {
	// Nothing listens on a port freed just now: the gRPC client connects
	// lazily, so building and shutting down must still succeed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	clearOTelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+addr)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
	tp, shutdown, err := NewTracerProviderFromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(*sdktrace.TracerProvider); !ok {
		t.Errorf("provider %T, want the SDK's", tp)
	}
	if err := shutdown(clustertest.Context(t, clusterWait)); err != nil {
		t.Errorf("shutdown with no spans: %v", err)
	}
}

func TestSampledProposalsLeaveTraceExemplars(t *testing.T) {
	o := newTestObserver(t, Config{TracerProvider: sdktrace.NewTracerProvider()})
	ctx, done := o.Propose(context.Background(), 8)
	done(3, nil)
	want := trace.SpanFromContext(ctx).SpanContext().TraceID().String()
	h := dtoMetric(t, o.m.proposalDuration).GetHistogram()
	var found []string
	for _, b := range h.GetBucket() {
		if ex := b.GetExemplar(); ex != nil {
			for _, lp := range ex.GetLabel() {
				found = append(found, lp.GetName()+"="+lp.GetValue())
			}
		}
	}
	if len(found) != 1 || found[0] != "trace_id="+want {
		t.Errorf("exemplars %v, want one trace_id=%s", found, want)
	}
}
