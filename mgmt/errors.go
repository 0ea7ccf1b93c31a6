package mgmt

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by a Client wrap the sentinel of the
// remote's error code, so callers match them with errors.Is whether the
// failure happened locally or on the server.
var (
	// ErrNotLeader: the operation must run on the leader and the node asked
	// is not it. The error is a *NotLeaderError naming the leader when known.
	ErrNotLeader = errors.New("mgmt: not leader")
	// ErrUnauthorized: the caller's credentials do not allow the operation.
	ErrUnauthorized = errors.New("mgmt: unauthorized")
	// ErrNotFound: the operation names a member that does not exist.
	ErrNotFound = errors.New("mgmt: not found")
	// ErrConflict: the operation conflicts with the cluster's state (the
	// member exists, its id was used before, another membership change is in
	// progress, it would remove the last voter).
	ErrConflict = errors.New("mgmt: conflict")
	// ErrUnavailable: the node cannot serve the operation now (no leader, a
	// transfer in progress, stopped, the events asked for are no longer held).
	// Retrying later, or on another node, may succeed.
	ErrUnavailable = errors.New("mgmt: unavailable")
	// ErrInvalid: the request is malformed or its arguments are invalid.
	ErrInvalid = errors.New("mgmt: invalid request")
	// ErrInternal: the server failed in an unexpected way.
	ErrInternal = errors.New("mgmt: internal error")
	// ErrProtocol: a peer sent a frame that does not follow jangada/mgmt/1
	// (bad checksum, unknown version or kind, undecodable body, too large).
	ErrProtocol = errors.New("mgmt: protocol violation")
	// ErrNoEndpoint: no endpoint could be reached.
	ErrNoEndpoint = errors.New("mgmt: no endpoint reachable")
	// ErrClosed: the server or client was closed.
	ErrClosed = errors.New("mgmt: closed")
	// ErrInvalidConfig is wrapped by ServerConfig.Validate and
	// ClientConfig.Validate.
	ErrInvalidConfig = errors.New("mgmt: invalid config")
)

// Code is an error code on the wire. Each maps to one sentinel error.
type Code string

// Error codes of jangada/mgmt/1.
const (
	CodeNotLeader    Code = "not-leader"
	CodeUnauthorized Code = "unauthorized"
	CodeNotFound     Code = "not-found"
	CodeConflict     Code = "conflict"
	CodeUnavailable  Code = "unavailable"
	CodeInvalid      Code = "invalid"
	CodeInternal     Code = "internal"
)

var codeErrors = map[Code]error{
	CodeNotLeader:    ErrNotLeader,
	CodeUnauthorized: ErrUnauthorized,
	CodeNotFound:     ErrNotFound,
	CodeConflict:     ErrConflict,
	CodeUnavailable:  ErrUnavailable,
	CodeInvalid:      ErrInvalid,
	CodeInternal:     ErrInternal,
}

// Sentinel returns the sentinel error of c; unknown codes map to ErrInternal.
func (c Code) Sentinel() error {
	if err, ok := codeErrors[c]; ok {
		return err
	}
	return ErrInternal
}

// RemoteError is an error a server returned. It wraps the sentinel of its
// Code, so errors.Is(err, ErrConflict) works on it.
type RemoteError struct {
	Code    Code
	Message string
	// Node is the id of the node that answered.
	Node uint64
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%v (node %d): %s", e.Code.Sentinel(), e.Node, e.Message)
}

// Unwrap returns the sentinel of e.Code.
func (e *RemoteError) Unwrap() error { return e.Code.Sentinel() }

// NotLeaderError is returned when an operation that only the leader serves
// reached another node. LeaderID is 0 when no leader is known; LeaderAddr and
// LeaderKey, when known, let a client open a stream to the leader.
type NotLeaderError struct {
	LeaderID   uint64
	LeaderAddr string
	LeaderKey  []byte
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == 0 {
		return "mgmt: not leader; no leader known"
	}
	return fmt.Sprintf("mgmt: not leader; leader is %d at %s", e.LeaderID, e.LeaderAddr)
}

// Is reports whether target is ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
