package harness

import (
	"slices"
	"time"
)

// Scenario names used in rows.
const (
	ScenarioWrite      = "write"
	ScenarioFailover   = "failover"
	ScenarioCatchUp    = "catchup"
	ScenarioAPILibrary = "api-library"
	ScenarioAPIHTTP    = "api-http"
)

// ReadScenario names the read scenario of a kind: "read-readindex".
func ReadScenario(kind ReadKind) string { return "read-" + string(kind) }

// Key identifies one cell of the report; rounds of the same cell merge.
type Key struct {
	Scenario   string
	System     string
	Nodes      int
	Size       int
	Clients    int
	StateBytes int64
}

// Row is one measured cell, merged over rounds.
type Row struct {
	Key
	Family  string
	Durable bool
	// Rounds is how many rounds contributed.
	Rounds int
	// RoundRates is the throughput of each round, in the order measured.
	RoundRates []float64
	// Throughput scenarios: merged latencies and totals.
	Summary
	Errors  int64
	CPU     time.Duration
	PeakRSS int64
	// Timed scenarios (failover, catch-up): one value per round and trial.
	// Elected is the time until a new leader was known.
	Times   []time.Duration
	Elected []time.Duration
	// NotMeasured says why there is no figure, when there is none.
	NotMeasured string

	latencies *Recorder
	elapsed   time.Duration
}

// CPUPer1k returns CPU seconds spent per 1,000 operations, or 0.
func (r *Row) CPUPer1k() float64 {
	if r.Ops == 0 {
		return 0
	}
	return r.CPU.Seconds() / float64(r.Ops) * 1000
}

// MedianTime returns the median of Times, or 0.
func (r *Row) MedianTime() time.Duration { return median(r.Times) }

// MedianElected returns the median of Elected, or 0.
func (r *Row) MedianElected() time.Duration { return median(r.Elected) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// Results collects rows in the order they were first recorded.
type Results struct {
	rows  []*Row
	index map[Key]*Row
}

// NewResults returns an empty collection.
func NewResults() *Results { return &Results{index: map[Key]*Row{}} }

func (rs *Results) row(k Key, sys System) *Row {
	if r, ok := rs.index[k]; ok {
		return r
	}
	r := &Row{Key: k, Family: sys.Family, Durable: sys.Durable}
	rs.index[k] = r
	rs.rows = append(rs.rows, r)
	return r
}

// AddMeasurement merges one round's measurement into its cell.
func (rs *Results) AddMeasurement(k Key, sys System, m Measurement, peakRSS int64) *Row {
	r := rs.row(k, sys)
	r.Rounds++
	if r.latencies == nil {
		r.latencies = NewRecorder()
	}
	if m.Latencies != nil {
		r.latencies.Merge(m.Latencies)
	}
	r.elapsed += m.Elapsed
	if m.Elapsed > 0 {
		r.RoundRates = append(r.RoundRates, float64(m.Ops)/m.Elapsed.Seconds())
	}
	r.Summary = r.latencies.Summarize(r.elapsed, k.Size)
	r.Errors += m.Errors
	r.CPU += m.CPU
	r.PeakRSS = max(r.PeakRSS, peakRSS)
	r.NotMeasured = ""
	return r
}

// AddTime records one timed trial (failover, catch-up).
func (rs *Results) AddTime(k Key, sys System, d, elected time.Duration, peakRSS int64) *Row {
	r := rs.row(k, sys)
	r.Rounds++
	r.Times = append(r.Times, d)
	if elected > 0 {
		r.Elected = append(r.Elected, elected)
	}
	r.PeakRSS = max(r.PeakRSS, peakRSS)
	r.NotMeasured = ""
	return r
}

// AddNotMeasured records why a cell has no figure, unless a round measured it.
func (rs *Results) AddNotMeasured(k Key, sys System, why string) *Row {
	r := rs.row(k, sys)
	if r.Rounds == 0 {
		r.NotMeasured = why
	}
	return r
}

// Rows returns the rows in recording order.
func (rs *Results) Rows() []*Row { return rs.rows }

// Get returns the row for k, or nil.
func (rs *Results) Get(k Key) *Row { return rs.index[k] }
