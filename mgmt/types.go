package mgmt

import (
	"context"
	"fmt"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Node is what the server needs from a raft node. *raftcore.Node[C, R]
// satisfies it for every C and R, so the server never depends on an
// application's command type.
type Node interface {
	ID() uint64
	Status() raftcore.Status
	AddLearner(ctx context.Context, p raftcore.Peer) error
	AddVoter(ctx context.Context, p raftcore.Peer) error
	PromoteLearner(ctx context.Context, id uint64) error
	RemoveMember(ctx context.Context, id uint64) error
	TransferLeadership(ctx context.Context, to uint64) error
	Snapshot(ctx context.Context) (raftcore.SnapshotMeta, error)
	Subscribe(ctx context.Context) <-chan raftcore.Event
}

var _ Node = (*raftcore.Node[struct{}, struct{}])(nil)

// HealthChecker reports a node's health checks (the observe module's checks
// in the jangada apps). It is optional: without one, Health answers with a
// single "node" check derived from the node's status.
type HealthChecker interface {
	Health(ctx context.Context) []HealthCheck
}

// HealthCheck is the outcome of one health check.
type HealthCheck struct {
	Name string `json:"name"`
	// Status is "ok", "degraded" or "fail".
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Health check outcomes.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthFail     = "fail"
)

// Status is one node's view of the cluster.
type Status struct {
	ID uint64 `json:"id"`
	// Role is "leader", "follower", "candidate", "precandidate", "learner"
	// or "none" (not a member).
	Role          string `json:"role"`
	Leader        uint64 `json:"leader"`
	Term          uint64 `json:"term"`
	CommitIndex   uint64 `json:"commit_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	// Members is the applied configuration, sorted by id.
	Members []Member `json:"members"`
}

// Member is one member of the configuration.
type Member struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	Key     []byte `json:"key,omitempty"`
	// Role is "voter" or "learner".
	Role string `json:"role"`
	// Match is the highest log index known to be replicated on the member,
	// and Lag how far it is behind the leader's commit index. Both are known
	// only in a status reported by the leader (Progress true).
	Match    uint64 `json:"match"`
	Lag      uint64 `json:"lag"`
	Progress bool   `json:"progress"`
	// Active reports whether the member answered the leader within the last
	// election timeout (leader only).
	Active bool `json:"active"`
}

// Member roles.
const (
	RoleVoter   = "voter"
	RoleLearner = "learner"
)

// Event types.
const (
	// Cluster events, derived from the replicated log: every node reports
	// the same ones with the same Seq (the entry's log index).
	EventMemberAdded   = "member-added"   // Member joined as Member.Role, or a learner was promoted (Role voter)
	EventMemberRemoved = "member-removed" // Member was removed

	// Node events: what the node the stream comes from saw. Seq is 0.
	EventLeaderElected     = "leader-elected"     // Leader leads Term
	EventRoleChanged       = "role-changed"       // the node's Role changed
	EventSnapshotCreated   = "snapshot-created"   // the node wrote a snapshot at Index
	EventSnapshotInstalled = "snapshot-installed" // the node restored a snapshot at Index
	EventCall              = "call"               // a mutating call was served (Call)
	EventsLost             = "events-lost"        // node events were dropped (Lost)
)

// Event is one entry of a node's event stream. See Client.Events for what
// Seq promises.
type Event struct {
	// Seq numbers cluster events by the log index of the entry they come
	// from; it is 0 for node events.
	Seq  uint64    `json:"seq"`
	Type string    `json:"type"`
	Node uint64    `json:"node"`
	Time time.Time `json:"time"`

	Term   uint64  `json:"term,omitempty"`
	Leader uint64  `json:"leader,omitempty"`
	Role   string  `json:"role,omitempty"`
	Member *Member `json:"member,omitempty"`
	Index  uint64  `json:"index,omitempty"`
	Lost   int     `json:"lost,omitempty"`
	Call   *Call   `json:"call,omitempty"`
}

// Cluster reports whether e is a cluster event (numbered by Seq).
func (e Event) Cluster() bool { return e.Seq != 0 }

// Call describes a mutating call a server served: who asked for what, and
// the outcome.
type Call struct {
	// Caller is the caller's public key in the printable form of
	// FormatKey, and CallerID its raft id when the transport proved one.
	Caller   string `json:"caller"`
	CallerID uint64 `json:"caller_id,omitempty"`
	Op       string `json:"op"`
	Target   uint64 `json:"target,omitempty"`
	Error    string `json:"error,omitempty"`
}

// String describes e on one line.
func (e Event) String() string {
	s := fmt.Sprintf("seq=%d node=%d %s", e.Seq, e.Node, e.Type)
	switch {
	case e.Member != nil:
		s += fmt.Sprintf(" member=%d address=%s", e.Member.ID, e.Member.Address)
		if e.Member.Role != "" {
			s += " role=" + e.Member.Role
		}
	case e.Call != nil:
		s += fmt.Sprintf(" op=%s target=%d caller=%s", e.Call.Op, e.Call.Target, e.Call.Caller)
		if e.Index != 0 {
			s += fmt.Sprintf(" index=%d", e.Index)
		}
		if e.Call.Error != "" {
			s += " error=" + e.Call.Error
		}
	case e.Type == EventLeaderElected:
		s += fmt.Sprintf(" leader=%d term=%d", e.Leader, e.Term)
	case e.Type == EventRoleChanged:
		s += fmt.Sprintf(" role=%s term=%d", e.Role, e.Term)
	case e.Type == EventSnapshotCreated || e.Type == EventSnapshotInstalled:
		s += fmt.Sprintf(" index=%d", e.Index)
	case e.Type == EventsLost:
		s += fmt.Sprintf(" lost=%d", e.Lost)
	}
	return s
}
