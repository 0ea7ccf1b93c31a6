// Package observe makes a jangada raft node observable: Prometheus metrics,
// OpenTelemetry traces, health checks, and the HTTP endpoints /metrics,
// /health, /ready and /status.
//
// raft-core knows nothing of Prometheus or OpenTelemetry. An Observer is
// plugged in as raftcore.Config.Observer, which the engine calls for every
// proposal, read, log save, apply and snapshot; it reads the node's Status
// at scrape and check time and follows its events. Transports are wrapped
// with InstrumentTransport to count bytes and errors per peer.
//
//	obs, err := observe.New(observe.Config{TracerProvider: tp}) // tp: nil for no tracing
//	if err != nil { ... }
//	defer obs.Close()
//	cfg.Observer = obs
//	cfg.Transport = obs.InstrumentTransport(cfg.Transport)
//	node, err := raftcore.Start(ctx, cfg, sm, codec)
//	if err != nil { ... }
//	_ = obs.Attach(node)
//	mux := http.NewServeMux()
//	obs.Register(mux) // GET /metrics /health /ready /status
//
// Each node gets its own prometheus.Registry (nothing is registered
// globally), so the metrics carry no node label: scrape every node.
//
// Tracing: NewTracerProviderFromEnv builds an OTLP (gRPC or HTTP)
// TracerProvider from the standard OTEL_* variables, and returns a no-op one
// when no endpoint is set. Proposal and read spans are children of the span
// in the caller's context; with tracing off the hooks allocate nothing.
//
// StatusPage is a live web page of the node's view of the cluster (members,
// leader, term, indexes, replication lag, health checks, recent events),
// embedded in the binary and kept current over Server-Sent Events:
//
//	page, err := observe.NewStatusPage(observe.StatusPageConfig{Health: obs.Health, MetricsURL: "/metrics"})
//	if err != nil { ... }
//	defer page.Close()
//	_ = page.Attach(node)
//	mux.Handle("GET /ui/", http.StripPrefix("/ui", page.Handler()))
//
// The dashboards directory holds a Grafana dashboard and Prometheus alerting
// rules built on these metrics.
package observe
