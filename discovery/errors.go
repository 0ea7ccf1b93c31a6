package discovery

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Errors that come from a remote node wrap
// the same sentinels, so callers match them with errors.Is wherever the
// check was made.
var (
	// ErrInvalid is wrapped by errors about malformed input: a source, a
	// ticket that does not decode, a bad configuration.
	ErrInvalid = errors.New("discovery: invalid")
	// ErrTicketForged means the ticket's grant is not signed by this
	// cluster: its MAC does not verify under the cluster secret.
	ErrTicketForged = errors.New("discovery: ticket forged (its signature does not verify)")
	// ErrTicketExpired means the ticket's grant ended (after the allowed
	// clock skew).
	ErrTicketExpired = errors.New("discovery: ticket expired")
	// ErrTicketUsed means the node id the ticket grants is or was a member
	// under another key: the ticket has been spent.
	ErrTicketUsed = errors.New("discovery: ticket already used")
	// ErrTicketForeign means the ticket was made for another cluster.
	ErrTicketForeign = errors.New("discovery: ticket is for another cluster")
	// ErrUnauthorized means the caller may not ask for what it asked.
	ErrUnauthorized = errors.New("discovery: unauthorized")
	// ErrNotLeader means the node asked is not the leader; see NotLeaderError.
	ErrNotLeader = errors.New("discovery: not the leader")
	// ErrUnavailable means the cluster cannot serve the request now (no
	// leader, a membership change in progress, the node is not started);
	// the caller retries.
	ErrUnavailable = errors.New("discovery: unavailable")
	// ErrProtocol means a peer sent something this node does not
	// understand.
	ErrProtocol = errors.New("discovery: protocol error")
)

// codes name the sentinels on the wire.
var codes = map[string]error{
	"invalid":        ErrInvalid,
	"ticket-forged":  ErrTicketForged,
	"ticket-expired": ErrTicketExpired,
	"ticket-used":    ErrTicketUsed,
	"ticket-foreign": ErrTicketForeign,
	"unauthorized":   ErrUnauthorized,
	"not-leader":     ErrNotLeader,
	"unavailable":    ErrUnavailable,
	"protocol":       ErrProtocol,
}

// codeOf returns the wire code of err, "unavailable" for errors without one.
func codeOf(err error) string {
	for code, sentinel := range codes {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return "unavailable"
}

// NotLeaderError is returned by a node that is not the leader. LeaderAddr
// is empty when the node knows no leader.
type NotLeaderError struct {
	LeaderID   uint64
	LeaderAddr string
	LeaderKey  []byte
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == 0 {
		return "discovery: not the leader, no leader known"
	}
	return fmt.Sprintf("discovery: not the leader, leader is %d at %s", e.LeaderID, e.LeaderAddr)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
