package deploy

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them, so
// callers match them with errors.Is.
var (
	// ErrInvalidConfig: the DeploymentConfig is malformed or incomplete. The
	// error names the field, what is wrong and what would be right.
	ErrInvalidConfig = errors.New("deploy: invalid config")
	// ErrQuorum: the step would leave fewer healthy voters than a quorum,
	// so it was refused before anything changed.
	ErrQuorum = errors.New("deploy: step would lose the quorum")
	// ErrHealthGate: a node did not become healthy and caught up after a
	// step; the operation halted there. The error is a *GateError.
	ErrHealthGate = errors.New("deploy: health gate failed")
	// ErrNoSlot: scaling up needs a node entry in the config that has never
	// been used.
	ErrNoSlot = errors.New("deploy: no unused node entry left")
	// ErrNotDeployed: the operation needs a cluster that `up` started.
	ErrNotDeployed = errors.New("deploy: cluster not deployed")
	// ErrNothingToRollBack: no earlier binary is recorded.
	ErrNothingToRollBack = errors.New("deploy: no previous binary to roll back to")
	// ErrLocked: another deploy operation holds the state directory.
	ErrLocked = errors.New("deploy: state directory in use by another operation")
)
