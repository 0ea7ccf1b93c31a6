package observe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backupBuckets span a small state's backup to a large one's.
var backupBuckets = prometheus.ExponentialBuckets(0.01, 2, 16) // 10ms … 5.5min

// backupMetrics describe the scheduled backups a node made (the leader
// makes them; see the backup module). They are exported by every node, at
// zero until it made a backup.
type backupMetrics struct {
	lastSuccess prometheus.Gauge
	duration    prometheus.Histogram
	bytes       prometheus.Gauge
	failures    prometheus.Counter
}

func newBackupMetrics() *backupMetrics {
	return &backupMetrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backup_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful backup made by this node finished; 0 if none.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "backup_duration_seconds",
			Help:    "Time to make one successful backup (copy, compression, upload).",
			Buckets: backupBuckets,
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backup_bytes",
			Help: "Stored (compressed) size of the last successful backup made by this node.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backup_failures_total",
			Help: "Scheduled backups that failed after all their retries.",
		}),
	}
}

func (m *backupMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.lastSuccess, m.duration, m.bytes, m.failures}
}

// BackupSucceeded records a backup of bytes stored bytes that took
// duration and finished at end.
func (o *Observer) BackupSucceeded(end time.Time, duration time.Duration, bytes int64) {
	o.backup.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	o.backup.duration.Observe(duration.Seconds())
	o.backup.bytes.Set(float64(bytes))
}

// BackupFailed records a backup that failed after all its retries.
func (o *Observer) BackupFailed() { o.backup.failures.Inc() }
