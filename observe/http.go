package observe

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Register mounts this node's endpoints on mux:
//
//	GET /metrics  Prometheus exposition (OpenMetrics when asked, with exemplars)
//	GET /health   liveness Report as JSON; 200 for ok or degraded, 503 for fail
//	GET /ready    readiness Report as JSON; 200 unless a check fails, then 503
//	GET /status   the node's Status as NodeStatus JSON; 503 before Attach
//
// It panics, as http.ServeMux does, if mux already has these patterns.
func (o *Observer) Register(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, o.Health(r.Context()))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		writeReport(w, o.Ready(r.Context()))
	})
	mux.HandleFunc("GET /status", o.serveStatus)
}

// Handler returns a handler serving the endpoints of Register.
func (o *Observer) Handler() http.Handler {
	mux := http.NewServeMux()
	o.Register(mux)
	return mux
}

func writeReport(w http.ResponseWriter, rep Report) {
	code := http.StatusOK
	if rep.Status == HealthFail {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

func (o *Observer) serveStatus(w http.ResponseWriter, _ *http.Request) {
	src := o.source()
	if src == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no node attached"})
		return
	}
	writeJSON(w, http.StatusOK, StatusOf(src.Status()))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// NodeStatus is the JSON form of raftcore.Status served by /status.
type NodeStatus struct {
	ID            uint64         `json:"id"`
	Role          string         `json:"role"`
	Leader        uint64         `json:"leader"`
	Term          uint64         `json:"term"`
	CommitIndex   uint64         `json:"commit_index"`
	AppliedIndex  uint64         `json:"applied_index"`
	SnapshotIndex uint64         `json:"snapshot_index"`
	Members       []MemberStatus `json:"members"`
}

// MemberStatus is one member in NodeStatus. Match, Next, State and
// RecentActive are only known on the leader; elsewhere they are zero.
type MemberStatus struct {
	ID           uint64 `json:"id"`
	Address      string `json:"address"`
	Role         string `json:"role"`
	Match        uint64 `json:"match"`
	Next         uint64 `json:"next"`
	State        string `json:"state"`
	RecentActive bool   `json:"recent_active"`
}

// StatusOf converts st to its JSON form.
func StatusOf(st raftcore.Status) NodeStatus {
	out := NodeStatus{
		ID:            st.ID,
		Role:          st.Role.String(),
		Leader:        st.Leader,
		Term:          st.Term,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  st.AppliedIndex,
		SnapshotIndex: st.SnapshotIndex,
		Members:       make([]MemberStatus, 0, len(st.Members)),
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, MemberStatus{
			ID:           m.ID,
			Address:      m.Addr,
			Role:         string(m.Role),
			Match:        m.Match,
			Next:         m.Next,
			State:        m.State,
			RecentActive: m.RecentActive,
		})
	}
	return out
}
