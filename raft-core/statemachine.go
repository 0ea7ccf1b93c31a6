package raftcore

import "io"

// StateMachine is the application state that raft replicates. C is the
// command type, R the result returned to the proposer.
//
// The engine calls Apply for every committed command, in log order, on every
// node, from one goroutine, with writes excluded from concurrent reads (Read
// and ReadStale callbacks run under a shared lock). Apply must be
// deterministic: the same commands in the same order must produce the same
// state and results on every node. index is the command's log index, unique
// and increasing, useful as a version number.
//
// Snapshot writes the whole state to w; applies are paused while it runs.
// Restore replaces the whole state with what Snapshot wrote.
type StateMachine[C, R any] interface {
	Apply(index uint64, cmd C) R
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Codec turns commands into bytes for the log and back. Decode must return an
// error, never panic, on bytes it did not produce. Implementations live in the
// codec module (JSON, gob, raw bytes, compressed wrappers).
type Codec[C any] interface {
	Encode(cmd C) ([]byte, error)
	Decode(data []byte) (C, error)
}
