package harness

import (
	"encoding/json"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to one minute with three
// significant digits.
const (
	minLatencyMicros = 1
	maxLatencyMicros = int64(time.Minute / time.Microsecond)
	latencyDigits    = 3
)

// Recorder collects the latencies of one client. It is not safe for
// concurrent use: give every client its own and Merge them.
type Recorder struct {
	h *hdrhistogram.Histogram
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{h: hdrhistogram.New(minLatencyMicros, maxLatencyMicros, latencyDigits)}
}

// Record adds one operation's latency; values beyond the range are clamped.
func (r *Recorder) Record(d time.Duration) {
	us := max(min(d.Microseconds(), maxLatencyMicros), minLatencyMicros)
	_ = r.h.RecordValue(us)
}

// Merge adds every latency of other to r.
func (r *Recorder) Merge(other *Recorder) { r.h.Merge(other.h) }

// Count returns how many latencies were recorded.
func (r *Recorder) Count() int64 { return r.h.TotalCount() }

// Summarize turns the recorded latencies, the time they were measured over
// and the command size into throughput and percentiles.
func (r *Recorder) Summarize(elapsed time.Duration, size int) Summary {
	s := Summary{Ops: r.h.TotalCount(), Elapsed: elapsed}
	if s.Ops == 0 || elapsed <= 0 {
		return s
	}
	s.OpsPerSec = float64(s.Ops) / elapsed.Seconds()
	s.MBPerSec = s.OpsPerSec * float64(size) / (1 << 20)
	at := func(q float64) time.Duration { return time.Duration(r.h.ValueAtQuantile(q)) * time.Microsecond }
	s.P50, s.P99, s.P999 = at(50), at(99), at(99.9)
	s.Mean = time.Duration(r.h.Mean() * float64(time.Microsecond))
	return s
}

// Summary is the outcome of one measured run of operations.
type Summary struct {
	// Ops is the number of operations that completed inside the window.
	Ops int64
	// Elapsed is the length of the measured window.
	Elapsed time.Duration
	// OpsPerSec and MBPerSec are throughput over the window (MB = MiB of
	// command payload).
	OpsPerSec float64
	MBPerSec  float64
	// Latency percentiles and mean of one operation.
	P50, P99, P999, Mean time.Duration
}

// MarshalJSON encodes every recorded latency, so that a measurement made in
// another process merges exactly.
func (r *Recorder) MarshalJSON() ([]byte, error) { return json.Marshal(r.h.Export()) }

// UnmarshalJSON restores a recorder encoded by MarshalJSON.
func (r *Recorder) UnmarshalJSON(b []byte) error {
	var s hdrhistogram.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	r.h = hdrhistogram.Import(&s)
	return nil
}
