package observe

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Config configures an Observer. The zero Config is valid: a fresh registry
// with Go and process collectors, tracing off, and the default thresholds.
type Config struct {
	// Registry receives every metric of this node. Use one registry per node:
	// the metrics carry no node label. Default: a new registry to which the
	// Go runtime and process collectors are added; a Registry given here gets
	// only the raft metrics, so that it never sees them registered twice.
	Registry *prometheus.Registry
	// TracerProvider creates the spans of proposals, reads and snapshots.
	// Default: nil, tracing off, which costs nothing on the hot path; a
	// noop.TracerProvider is treated the same way. See
	// NewTracerProviderFromEnv for one configured by OTEL_* variables.
	TracerProvider trace.TracerProvider

	// LeaderLostGrace is how long the "leader" check reports degraded rather
	// than fail once no leader is known: an election normally ends within
	// two election timeouts. Default: 5s.
	LeaderLostGrace time.Duration
	// MaxLogSaveLatency is the 95th percentile of recent log saves (write and
	// fsync) above which the "storage" check is degraded. Default: 100ms.
	MaxLogSaveLatency time.Duration
	// MaxApplyLag is the number of committed but not yet applied entries above
	// which the "apply_lag" check is degraded. Default: 1000.
	MaxApplyLag uint64
	// ReadyMaxApplyLag is the apply lag up to which /ready says the node is
	// caught up. Default: 100.
	ReadyMaxApplyLag uint64
}

const (
	defaultLeaderLostGrace   = 5 * time.Second
	defaultMaxLogSaveLatency = 100 * time.Millisecond
	defaultMaxApplyLag       = 1000
	defaultReadyMaxApplyLag  = 100
)

func (c Config) withDefaults() Config {
	if c.LeaderLostGrace == 0 {
		c.LeaderLostGrace = defaultLeaderLostGrace
	}
	if c.MaxLogSaveLatency == 0 {
		c.MaxLogSaveLatency = defaultMaxLogSaveLatency
	}
	if c.MaxApplyLag == 0 {
		c.MaxApplyLag = defaultMaxApplyLag
	}
	if c.ReadyMaxApplyLag == 0 {
		c.ReadyMaxApplyLag = defaultReadyMaxApplyLag
	}
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.LeaderLostGrace < 0:
		return fmt.Errorf("%w: LeaderLostGrace %v is negative", ErrInvalidConfig, c.LeaderLostGrace)
	case c.MaxLogSaveLatency < 0:
		return fmt.Errorf("%w: MaxLogSaveLatency %v is negative", ErrInvalidConfig, c.MaxLogSaveLatency)
	}
	return nil
}
