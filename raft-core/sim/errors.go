package sim

import "errors"

var (
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("sim: invalid config")
	// ErrCorrupt is returned when a command or snapshot of the simulated
	// key-value store does not decode.
	ErrCorrupt = errors.New("sim: data corrupt")
	// errCrashed resolves the calls pending on a node when it crashes.
	errCrashed = errors.New("sim: node crashed")
)
