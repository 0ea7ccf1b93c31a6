package observe

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Proposal results, the values of raft_proposals_total's result label.
const (
	ResultOK       = "ok"
	ResultDropped  = "dropped"  // raftcore.ErrProposalDropped: no leader, transfer, log full
	ResultBusy     = "busy"     // raftcore.ErrBusy: proposal queue full
	ResultTimeout  = "timeout"  // the caller's deadline passed; the outcome is unknown
	ResultCanceled = "canceled" // the caller gave up; the outcome is unknown
	ResultStopped  = "stopped"  // the node stopped or was removed
	ResultError    = "error"    // anything else
)

// Indices of the results in proposalResults, so the hooks index an array
// of resolved counters instead of looking labels up.
const (
	resOK = iota
	resDropped
	resBusy
	resTimeout
	resCanceled
	resStopped
	resError
	resultCount
)

var proposalResults = [resultCount]string{
	resOK:       ResultOK,
	resDropped:  ResultDropped,
	resBusy:     ResultBusy,
	resTimeout:  ResultTimeout,
	resCanceled: ResultCanceled,
	resStopped:  ResultStopped,
	resError:    ResultError,
}

// Histogram buckets. Proposals and reads wait for a network round trip and
// an fsync; log saves and applies are local and usually faster.
var (
	latencyBuckets  = prometheus.ExponentialBuckets(0.0001, 2, 17)  // 100µs … 6.5s
	localBuckets    = prometheus.ExponentialBuckets(0.00005, 2, 16) // 50µs … 1.6s
	snapshotBuckets = prometheus.ExponentialBuckets(0.001, 2, 16)   // 1ms … 33s
)

// snapshotKinds are the values of the snapshot families' kind label.
var snapshotKinds = []raftcore.SnapshotKind{raftcore.SnapshotAuto, raftcore.SnapshotManual, raftcore.SnapshotInstalled, raftcore.SnapshotSent}

// metrics holds the collectors fed by the engine's hooks, the event loop and
// the transport wrapper.
type metrics struct {
	proposalsByResult *prometheus.CounterVec
	proposals         [resultCount]prometheus.Counter
	proposalDuration  prometheus.Histogram
	readDuration      prometheus.Histogram
	applyDuration     prometheus.Histogram
	logSaveDuration   prometheus.Histogram
	snapshots         *prometheus.CounterVec
	snapshotDuration  *prometheus.HistogramVec
	leaderChanges     prometheus.Counter
	sentBytes         *prometheus.CounterVec
	transportErrors   *prometheus.CounterVec
}

func newMetrics() *metrics {
	proposals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "raft_proposals_total",
		Help: "Proposals made on this node, by result.",
	}, []string{"result"})
	m := &metrics{
		proposalsByResult: proposals,
		proposalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raft_proposal_duration_seconds",
			Help:    "Time from Propose to the entry being applied on this node, for proposals that succeeded.",
			Buckets: latencyBuckets,
		}),
		readDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raft_read_index_duration_seconds",
			Help:    "Time for a linearizable read to obtain its read index and wait for it to apply.",
			Buckets: latencyBuckets,
		}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raft_apply_duration_seconds",
			Help:    "Time to apply one batch of committed entries to the state machine.",
			Buckets: localBuckets,
		}),
		logSaveDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "raft_log_save_duration_seconds",
			Help:    "Time to write one batch of entries and state to the log store, fsync included.",
			Buckets: localBuckets,
		}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raft_snapshots_total",
			Help: "Snapshots taken, installed or sent by this node, by kind and result.",
		}, []string{"kind", "result"}),
		snapshotDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raft_snapshot_duration_seconds",
			Help:    "Time to take, install or send one snapshot, by kind.",
			Buckets: snapshotBuckets,
		}, []string{"kind"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raft_leader_changes_total",
			Help: "Times this node saw a new leader.",
		}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raft_transport_sent_bytes_total",
			Help: "Bytes of raft messages and snapshots handed to the transport, by destination peer.",
		}, []string{"peer"}),
		transportErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raft_transport_errors_total",
			Help: "Transport failures by peer and kind (unreachable: messages dropped; snapshot: a snapshot send failed).",
		}, []string{"peer", "kind"}),
	}
	// Resolve every result once so the hot path does no label lookup.
	for i, r := range proposalResults {
		m.proposals[i] = proposals.WithLabelValues(r)
	}
	// Every series whose labels are known in advance exists from the start,
	// at zero: a dashboard's rate() and an alert on absence see a value
	// before the first snapshot (per-peer series start when the peer is added).
	for _, kind := range snapshotKinds {
		m.snapshotDuration.WithLabelValues(string(kind))
		for _, result := range []string{ResultOK, ResultError} {
			m.snapshots.WithLabelValues(string(kind), result)
		}
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.proposalsByResult, m.proposalDuration, m.readDuration, m.applyDuration,
		m.logSaveDuration, m.snapshots, m.snapshotDuration, m.leaderChanges,
		m.sentBytes, m.transportErrors,
	}
}

// statusCollector reads the node's Status at scrape time, so the gauges are
// never stale and cost nothing between scrapes.
type statusCollector struct {
	o        *Observer
	term     *prometheus.Desc
	commit   *prometheus.Desc
	applied  *prometheus.Desc
	isLeader *prometheus.Desc
	matchLag *prometheus.Desc
	members  *prometheus.Desc
	active   *prometheus.Desc
	voters   *prometheus.Desc
}

func newStatusCollector(o *Observer) *statusCollector {
	return &statusCollector{
		o:        o,
		term:     prometheus.NewDesc("raft_current_term", "Current raft term of this node.", nil, nil),
		commit:   prometheus.NewDesc("raft_commit_index", "Highest log index this node knows to be committed.", nil, nil),
		applied:  prometheus.NewDesc("raft_applied_index", "Highest log index applied to this node's state machine.", nil, nil),
		isLeader: prometheus.NewDesc("raft_is_leader", "1 if this node is the leader, 0 otherwise.", nil, nil),
		matchLag: prometheus.NewDesc("raft_peer_match_lag", "Log entries the leader holds that the peer has not yet acknowledged (exported by the leader only).", []string{"peer"}, nil),
		members:  prometheus.NewDesc("raft_members", "Members of the applied configuration, by role.", []string{"role"}, nil),
		active:   prometheus.NewDesc("raft_peer_active", "1 if the peer answered the leader within the last election timeout, 0 otherwise (exported by the leader only).", []string{"peer"}, nil),
		voters:   prometheus.NewDesc("raft_voters_active", "Voters, the leader included, that answered the leader within the last election timeout (exported by the leader only).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.term, c.commit, c.applied, c.isLeader, c.matchLag, c.members, c.active, c.voters} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Before Attach it exports nothing.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.o.source()
	if src == nil {
		return
	}
	st := src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.CommitIndex))
	gauge(c.applied, float64(st.AppliedIndex))
	leader := 0.0
	if st.Role == raftcore.RoleLeader {
		leader = 1
	}
	gauge(c.isLeader, leader)
	var voters, learners int
	for _, m := range st.Members {
		if m.Role == raftcore.MemberLearner {
			learners++
		} else {
			voters++
		}
	}
	gauge(c.members, float64(voters), string(raftcore.MemberVoter))
	gauge(c.members, float64(learners), string(raftcore.MemberLearner))
	if st.Role != raftcore.RoleLeader {
		return
	}
	// The leader's own Match is its durable last index: the reference every
	// follower is measured against.
	var last uint64
	for _, m := range st.Members {
		last = max(last, m.Match)
	}
	activeVoters := 0
	for _, m := range st.Members {
		if m.ID == st.ID {
			if m.Role == raftcore.MemberVoter {
				activeVoters++
			}
			continue
		}
		gauge(c.matchLag, float64(last-m.Match), peerLabel(m.ID))
		active := 0.0
		if m.RecentActive {
			active = 1
			if m.Role == raftcore.MemberVoter {
				activeVoters++
			}
		}
		gauge(c.active, active, peerLabel(m.ID))
	}
	gauge(c.voters, float64(activeVoters))
}

func peerLabel(id uint64) string { return strconv.FormatUint(id, 10) }

// registerRuntime adds the Go runtime and process collectors.
func registerRuntime(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
