package raftcore

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the engine and the in-memory stores. Match them with
// errors.Is; they are always wrapped with %w when extra context is added.
var (
	// ErrStopped is returned by every call on a Node that has been closed or that
	// stopped because of a fatal storage or state-machine error.
	ErrStopped = errors.New("raftcore: node stopped")
	// ErrProposalDropped is returned when raft refused a proposal, typically because
	// there is no leader, a leadership transfer is in progress, or the uncommitted
	// log is over its size limit, and when the engine refused an appended copy
	// that can never apply (it reached the log too long after later proposals of
	// its node). Either way the proposal has no effect; retrying is safe.
	ErrProposalDropped = errors.New("raftcore: proposal dropped")
	// ErrTooLarge is returned when an encoded command is bigger than Config.MaxCommandSize.
	ErrTooLarge = errors.New("raftcore: command too large")
	// ErrBusy is returned by Propose when the proposal queue is full and
	// Config.FailFastWhenBusy is set, and by Read when more than 65,536 reads
	// already wait for a read index (a cluster without a leader). Retrying
	// later is safe.
	ErrBusy = errors.New("raftcore: too many requests queued")
	// ErrConfChangeInProgress is returned when a membership change is requested while
	// another one has not been applied yet.
	ErrConfChangeInProgress = errors.New("raftcore: membership change in progress")
	// ErrUnknownMember is returned when a membership operation names an id that is
	// not a member.
	ErrUnknownMember = errors.New("raftcore: unknown member")
	// ErrMemberExists is returned when adding an id that is already a member.
	ErrMemberExists = errors.New("raftcore: member already exists")
	// ErrIDReused is returned when adding a member whose id belonged to a removed member.
	ErrIDReused = errors.New("raftcore: member id was used by a removed member")
	// ErrKeyConflict is returned by BindMemberKey when the member already
	// has another key.
	ErrKeyConflict = errors.New("raftcore: member is bound to another key")
	// ErrLastVoter is returned when removing the only voter: a cluster
	// without voters can never commit again.
	ErrLastVoter = errors.New("raftcore: cannot remove the last voter")
	// ErrRemoved is returned by a node that has been removed from the cluster.
	ErrRemoved = errors.New("raftcore: node removed from cluster")
	// ErrSnapshotNotFound is returned by SnapshotStore.Open for an unknown index.
	ErrSnapshotNotFound = errors.New("raftcore: snapshot not found")
	// ErrCorrupt is returned when stored or received data fails its checksum or
	// cannot be decoded. The node stops rather than apply corrupt data.
	ErrCorrupt = errors.New("raftcore: data corrupt")
	// ErrClosed is returned by stores and transports after Close.
	ErrClosed = errors.New("raftcore: closed")
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("raftcore: invalid config")
	// ErrTransferFailed is returned when a leadership transfer did not complete.
	ErrTransferFailed = errors.New("raftcore: leadership transfer failed")
)

// NotLeaderError is returned by operations that only the leader can serve when
// this node is not the leader and cannot forward. LeaderID is 0 when no leader
// is known; LeaderAddr is the leader's transport address when known.
type NotLeaderError struct {
	LeaderID   uint64
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == 0 {
		return "raftcore: not leader (no leader known)"
	}
	if e.LeaderAddr == "" {
		return fmt.Sprintf("raftcore: not leader (leader is %d)", e.LeaderID)
	}
	return fmt.Sprintf("raftcore: not leader (leader is %d at %s)", e.LeaderID, e.LeaderAddr)
}

// ApplyError reports that a committed entry could not be applied on this node,
// for example because its command did not decode. The node stops: applying
// some entries and skipping others would make replicas diverge silently.
type ApplyError struct {
	Index uint64
	Err   error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("raftcore: cannot apply entry %d: %v", e.Index, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }
