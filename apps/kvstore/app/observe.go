package app

import (
	"context"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/jangada-io/jangada/observe"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// observeOption adds Prometheus metrics and health checks: the Observer
// sees the node's proposals, reads and saves (raftcore.Config.Observer),
// counts the transport's traffic (a decorator around the Transport) and
// serves GET /metrics, /health, /ready and /status next to the API.
func observeOption() fx.Option {
	return fx.Options(
		fx.Provide(
			NewObserver,
			func(o *observe.Observer) raftcore.Observer { return o },
			fx.Annotate(observerRoutes, fx.ResultTags(`group:"routes,flatten"`)),
		),
		fx.Decorate(func(o *observe.Observer, t raftcore.Transport) raftcore.Transport {
			return o.InstrumentTransport(t)
		}),
		fx.Invoke(attachObserver),
	)
}

// NewObserver returns the node's Observer with its own registry, tracing
// as the standard OpenTelemetry environment says (off unless
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// see observe.NewTracerProviderFromEnv). The exporter is flushed and stopped
// with the node.
func NewObserver(lc fx.Lifecycle, logger *slog.Logger) (*observe.Observer, error) {
	tp, shutdown, err := observe.NewTracerProviderFromEnv(context.Background())
	if err != nil {
		return nil, err
	}
	if _, off := tp.(noop.TracerProvider); !off {
		logger.Info("tracing: exporting spans over OTLP", "endpoint", firstNonEmpty(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")))
	}
	lc.Append(fx.StopHook(shutdown))
	return observe.New(observe.Config{TracerProvider: tp})
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func observerRoutes(o *observe.Observer) []Route {
	h := o.Handler()
	return []Route{
		{Pattern: "GET /metrics", Handler: h, Public: true},
		{Pattern: "GET /health", Handler: h, Public: true},
		{Pattern: "GET /ready", Handler: h, Public: true},
		{Pattern: "GET /status", Handler: h},
	}
}

// attachObserver lets the Observer watch the node once it has started and
// stops it before the node closes.
func attachObserver(lc fx.Lifecycle, o *observe.Observer, r *Replica) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return o.Attach(r) },
		OnStop:  func(context.Context) error { return o.Close() },
	})
}
