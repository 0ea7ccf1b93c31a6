package observe

import "errors"

// Sentinel errors. They are wrapped with %w when context is added; match them
// with errors.Is.
var (
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("observe: invalid config")
	// ErrAttached is returned by Attach when the Observer already watches a node.
	ErrAttached = errors.New("observe: already attached to a node")
	// ErrClosed is returned by Attach after Close.
	ErrClosed = errors.New("observe: closed")
	// ErrNotAttached is returned by StatusPage.Snapshot before Attach.
	ErrNotAttached = errors.New("observe: no node attached")
	// ErrTracingConfig is wrapped by NewTracerProviderFromEnv when the OTEL_*
	// environment asks for something this module does not provide.
	ErrTracingConfig = errors.New("observe: unsupported tracing configuration")
)
