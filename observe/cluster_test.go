package observe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

const clusterWait = 15 * time.Second

func TestClusterMetricsCountProposalsReadsAndStorage(t *testing.T) {
	oc := newObservedCluster(t, nil)
	lead := oc.Leader()
	follower := oc.Follower()
	ctx := clustertest.Context(t, clusterWait)

	const viaFollower, viaLeader = 12, 5
	var last uint64
	for i := range viaFollower {
		res, err := follower.Propose(ctx, put(fmt.Sprintf("f%d", i), "v"))
		if err != nil {
			t.Fatalf("propose via follower: %v", err)
		}
		last = res.Index
	}
	for i := range viaLeader {
		res, err := lead.Propose(ctx, put(fmt.Sprintf("l%d", i), "v"))
		if err != nil {
			t.Fatalf("propose via leader: %v", err)
		}
		last = res.Index
	}
	for range 3 {
		if err := follower.Read(ctx, func() error { return nil }); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	oc.WaitApplied(last)

	tests := []struct {
		name   string
		node   uint64
		metric string
		labels []string
		check  func(float64) bool
		want   string
	}{
		{"follower counts its proposals", follower.ID(), "raft_proposals_total", []string{"result", ResultOK}, eq(viaFollower), fmt.Sprint(viaFollower)},
		{"leader counts its proposals", lead.ID(), "raft_proposals_total", []string{"result", ResultOK}, eq(viaLeader), fmt.Sprint(viaLeader)},
		{"no failed proposals", lead.ID(), "raft_proposals_total", []string{"result", ResultDropped}, eq(0), "0"},
		{"follower times its proposals", follower.ID(), "raft_proposal_duration_seconds", nil, eq(viaFollower), fmt.Sprint(viaFollower)},
		{"follower times its reads", follower.ID(), "raft_read_index_duration_seconds", nil, eq(3), "3"},
		{"leader applied up to the last write", lead.ID(), "raft_applied_index", nil, atLeast(last), fmt.Sprintf(">= %d", last)},
		{"follower knows the commit index", follower.ID(), "raft_commit_index", nil, atLeast(last), fmt.Sprintf(">= %d", last)},
		{"leader says it leads", lead.ID(), "raft_is_leader", nil, eq(1), "1"},
		{"follower says it does not lead", follower.ID(), "raft_is_leader", nil, eq(0), "0"},
		{"three voters", follower.ID(), "raft_members", []string{"role", "voter"}, eq(3), "3"},
		{"no learners", follower.ID(), "raft_members", []string{"role", "learner"}, eq(0), "0"},
		{"log saves timed", follower.ID(), "raft_log_save_duration_seconds", nil, atLeast(1), ">= 1"},
		{"applies timed", follower.ID(), "raft_apply_duration_seconds", nil, atLeast(1), ">= 1"},
		{"leader sent bytes to the follower", lead.ID(), "raft_transport_sent_bytes_total", []string{"peer", fmt.Sprint(follower.ID())}, atLeast(1), "> 0"},
		{"term is known", follower.ID(), "raft_current_term", nil, atLeast(1), ">= 1"},
		{"Go runtime collector present", follower.ID(), "go_goroutines", nil, atLeast(1), ">= 1"},
		{"process collector present", follower.ID(), "process_resident_memory_bytes", nil, atLeast(1), "> 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oc.metric(tt.node, tt.metric, tt.labels...); !tt.check(got) {
				t.Errorf("node %d %s%v = %v, want %s", tt.node, tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

func atLeast[N uint64 | int](want N) func(float64) bool {
	return func(v float64) bool { return v >= float64(want) }
}

func TestClusterElectionMovesTermAndLeaderChanges(t *testing.T) {
	oc := newObservedCluster(t, nil)
	old := oc.Leader()
	oldTerm := oc.metric(old.ID(), "raft_current_term")
	others := oc.others(old.ID())

	oc.Net.Partition([]uint64{old.ID()}, others)
	lead := oc.Leader(others...)
	clustertest.WaitFor(t, "the new leader's metrics to show its election", clusterWait, func() bool {
		f := oc.scrape(lead.ID())
		term, _ := f.value("raft_current_term")
		isLeader, _ := f.value("raft_is_leader")
		changes, _ := f.value("raft_leader_changes_total")
		return term > oldTerm && isLeader == 1 && changes >= 1
	})
	oc.Net.Heal()
	newTerm := oc.metric(lead.ID(), "raft_current_term")
	clustertest.WaitFor(t, "the old leader to follow at the new term", clusterWait, func() bool {
		f := oc.scrape(old.ID())
		term, _ := f.value("raft_current_term")
		isLeader, _ := f.value("raft_is_leader")
		return term >= newTerm && isLeader == 0
	})
}

func TestClusterPartitionedFollowerLagIsVisibleOnLeader(t *testing.T) {
	oc := newObservedCluster(t, nil)
	lead := oc.Leader()
	lagging := oc.Follower()
	peer := fmt.Sprint(lagging.ID())
	ctx := clustertest.Context(t, clusterWait)

	oc.Net.Partition([]uint64{lagging.ID()}, oc.others(lagging.ID()))
	const writes = 40
	for i := range writes {
		if _, err := lead.Propose(ctx, put(fmt.Sprintf("k%d", i), "v")); err != nil {
			t.Fatalf("propose with one follower cut off: %v", err)
		}
	}
	if lag := oc.metric(lead.ID(), "raft_peer_match_lag", "peer", peer); lag < writes {
		t.Fatalf("lag of partitioned follower %s = %v, want >= %d", peer, lag, writes)
	}
	if _, ok := oc.scrape(lagging.ID()).value("raft_peer_match_lag"); ok {
		t.Errorf("a follower exports raft_peer_match_lag; only the leader knows it")
	}
	clustertest.WaitFor(t, "the leader to see the cut-off follower inactive", clusterWait, func() bool {
		fams := oc.scrape(lead.ID())
		active, ok := fams.value("raft_peer_active", "peer", peer)
		voters, _ := fams.value("raft_voters_active")
		return ok && active == 0 && voters == 2
	})

	oc.Net.Heal()
	clustertest.WaitFor(t, "the healed follower's lag to return to 0", clusterWait, func() bool {
		fams := oc.scrape(lead.ID())
		lag, ok := fams.value("raft_peer_match_lag", "peer", peer)
		active, _ := fams.value("raft_peer_active", "peer", peer)
		voters, _ := fams.value("raft_voters_active")
		return ok && lag == 0 && active == 1 && voters == 3
	})
}

func TestClusterHealthFailsWithoutQuorumAndRecovers(t *testing.T) {
	oc := newObservedCluster(t, nil)
	old := oc.Leader()
	ctx := clustertest.Context(t, clusterWait)
	if _, err := old.Propose(ctx, put("k", "v")); err != nil {
		t.Fatalf("propose: %v", err)
	}
	healthOf := func(id uint64) (int, Report) {
		code, body := oc.fetch(id, "/health")
		return code, decodeReport(t, body)
	}
	for _, id := range oc.Running() {
		clustertest.WaitFor(t, fmt.Sprintf("node %d healthy", id), clusterWait, func() bool {
			code, rep := healthOf(id)
			return code == http.StatusOK && rep.Status == HealthOK
		})
	}

	others := oc.others(old.ID())
	oc.Net.Partition([]uint64{old.ID()}, others)
	var rep Report
	clustertest.WaitFor(t, "the isolated old leader to fail its health check", clusterWait, func() bool {
		var code int
		code, rep = healthOf(old.ID())
		return code == http.StatusServiceUnavailable && rep.Status == HealthFail && rep.check(CheckQuorum).Status == HealthFail
	})
	// It leads on until check-quorum makes it step down; then it has no
	// leader and is not ready.
	clustertest.WaitFor(t, "the isolated node to stop being ready", clusterWait, func() bool {
		code, _ := oc.fetch(old.ID(), "/ready")
		return code == http.StatusServiceUnavailable
	})
	lead := oc.Leader(others...)
	if code, rep := healthOf(lead.ID()); code != http.StatusOK || rep.check(CheckQuorum).Status == HealthFail {
		t.Errorf("majority leader /health = HTTP %d %+v, want 200 with quorum", code, rep)
	}

	oc.Net.Heal()
	clustertest.WaitFor(t, "the old leader healthy again after the partition heals", clusterWait, func() bool {
		code, rep := healthOf(old.ID())
		return code == http.StatusOK && rep.Status == HealthOK
	})
	if code, _ := oc.fetch(old.ID(), "/ready"); code != http.StatusOK {
		t.Errorf("healed node /ready = HTTP %d, want 200", code)
	}
}

func TestClusterStatusEndpointUsesSnakeCase(t *testing.T) {
	oc := newObservedCluster(t, nil)
	lead := oc.Leader()
	code, body := oc.fetch(lead.ID(), "/status")
	if code != http.StatusOK {
		t.Fatalf("/status: HTTP %d: %s", code, body)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("decode /status: %v", err)
	}
	wantKeys := []string{"applied_index", "commit_index", "id", "leader", "members", "role", "snapshot_index", "term"}
	if got := sortedKeys(raw); !slices.Equal(got, wantKeys) {
		t.Errorf("/status keys = %v, want %v", got, wantKeys)
	}
	members, _ := raw["members"].([]any)
	if len(members) != 3 {
		t.Fatalf("/status members = %v, want 3", raw["members"])
	}
	wantMemberKeys := []string{"address", "id", "match", "next", "recent_active", "role", "state"}
	if got := sortedKeys(members[0].(map[string]any)); !slices.Equal(got, wantMemberKeys) {
		t.Errorf("/status member keys = %v, want %v", got, wantMemberKeys)
	}
	var st NodeStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("decode NodeStatus: %v", err)
	}
	if st.ID != lead.ID() || st.Role != raftcore.RoleLeader.String() || st.Leader != lead.ID() || st.Term == 0 {
		t.Errorf("/status = %+v, want node %d leading", st, lead.ID())
	}
	if m := st.Members[0]; m.Address != oc.Net.Peer(m.ID).Addr || m.Role != "voter" || m.State != "replicate" {
		t.Errorf("member %+v, want address %q, voter, replicate", m, oc.Net.Peer(m.ID).Addr)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestLabelledFamiliesExistFromTheStart scrapes each node of a fresh cluster,
// before any snapshot, send failure or unreachable peer: every family is
// there with its series at zero, so rate() and absence alerts work at once.
func TestLabelledFamiliesExistFromTheStart(t *testing.T) {
	oc := newObservedCluster(t, nil)
	oc.Leader()
	for _, id := range oc.Running() {
		fams := oc.scrape(id)
		for _, kind := range snapshotKinds {
			for _, result := range []string{ResultOK, ResultError} {
				if v, ok := fams.value("raft_snapshots_total", "kind", string(kind), "result", result); !ok || v != 0 {
					t.Errorf("node %d: raft_snapshots_total{kind=%q,result=%q} = %v (present %v), want 0", id, kind, result, v, ok)
				}
			}
			if _, ok := fams.value("raft_snapshot_duration_seconds", "kind", string(kind)); !ok {
				t.Errorf("node %d: raft_snapshot_duration_seconds{kind=%q} missing", id, kind)
			}
		}
		for _, peer := range oc.others(id) {
			label := peerLabel(peer)
			if _, ok := fams.value("raft_transport_sent_bytes_total", "peer", label); !ok {
				t.Errorf("node %d: raft_transport_sent_bytes_total{peer=%q} missing", id, label)
			}
			for _, kind := range []string{TransportUnreachable, TransportSnapshot} {
				if v, ok := fams.value("raft_transport_errors_total", "peer", label, "kind", kind); !ok || v != 0 {
					t.Errorf("node %d: raft_transport_errors_total{peer=%q,kind=%q} = %v (present %v), want 0", id, label, kind, v, ok)
				}
			}
		}
	}
}
