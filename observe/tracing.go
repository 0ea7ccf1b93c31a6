package observe

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// NewTracerProviderFromEnv returns a TracerProvider that exports spans over
// OTLP as the standard OpenTelemetry environment variables say, and the
// function that flushes and stops it.
//
// Tracing is off — a no-op TracerProvider, which an Observer recognises and
// skips entirely, and a shutdown that does nothing — unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// or OTEL_EXPORTER_OTLP_ENDPOINT is set, and also when OTEL_SDK_DISABLED is
// "true" or OTEL_TRACES_EXPORTER is "none". OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
// (or OTEL_EXPORTER_OTLP_PROTOCOL) picks "grpc" or "http/protobuf" (the
// default). The exporters read the other OTEL_EXPORTER_OTLP_* variables
// (headers, TLS, timeouts), the SDK reads OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG (default: parentbased_always_on), OTEL_BSP_* and
// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES.
//
// Errors wrap ErrTracingConfig for a protocol or exporter this module does
// not provide, or come from the exporter's constructor.
func NewTracerProviderFromEnv(ctx context.Context) (trace.TracerProvider, func(context.Context) error, error) {
	off := func(context.Context) error { return nil }
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return noop.NewTracerProvider(), off, nil
	}
	switch exp := firstEnv("OTEL_TRACES_EXPORTER"); exp {
	case "", "otlp":
	case "none":
		return noop.NewTracerProvider(), off, nil
	default:
		return nil, nil, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q (want otlp or none)", ErrTracingConfig, exp)
	}
	if firstEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return noop.NewTracerProvider(), off, nil
	}
	var exporter *otlptrace.Exporter
	var err error
	switch proto := firstEnv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); proto {
	case "", "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, nil, fmt.Errorf("%w: OTLP protocol %q (want grpc or http/protobuf)", ErrTracingConfig, proto)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("observe: OTLP trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	return tp, tp.Shutdown, nil
}

// firstEnv returns the first of the variables that is set and not blank.
func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return ""
}
