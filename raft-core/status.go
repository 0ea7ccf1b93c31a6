package raftcore

import "fmt"

// Role is a node's part in the cluster.
type Role int

const (
	RoleFollower Role = iota
	RoleCandidate
	RolePreCandidate
	RoleLeader
	RoleLearner
	// RoleNone: not a member (not yet added, or removed).
	RoleNone
)

func (r Role) String() string {
	switch r {
	case RoleFollower:
		return "follower"
	case RoleCandidate:
		return "candidate"
	case RolePreCandidate:
		return "pre-candidate"
	case RoleLeader:
		return "leader"
	case RoleLearner:
		return "learner"
	case RoleNone:
		return "none"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// MemberRole is a member's standing in the configuration.
type MemberRole string

const (
	MemberVoter   MemberRole = "voter"
	MemberLearner MemberRole = "learner"
)

// Status is a point-in-time view of a node.
type Status struct {
	ID     uint64
	Role   Role
	Leader uint64 // 0 when unknown
	// LeaderActive reports whether this node leads or heard from Leader
	// within the last election timeout. A follower whose leader died keeps
	// naming it until a new leader is elected; LeaderActive turns false
	// one election timeout after the leader's last message.
	LeaderActive bool
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	// SnapshotIndex is the index of the latest snapshot in the LogStore.
	SnapshotIndex uint64
	// Members lists the applied configuration, sorted by id. Replication
	// progress (Match, Next, State) is only known on the leader.
	Members []MemberStatus
	// LeadTransferee is the target of a leadership transfer in progress, or 0.
	LeadTransferee uint64
}

// MemberStatus describes one member as this node sees it.
type MemberStatus struct {
	Peer
	Role MemberRole
	// Match is the highest log index known to be replicated on the member
	// (leader only). Next is the next index the leader will send.
	Match, Next uint64
	// State is the leader's replication state for the member: "probe",
	// "replicate" or "snapshot" (leader only).
	State string
	// RecentActive reports whether the member answered within the last
	// election timeout (leader only).
	RecentActive bool
}
