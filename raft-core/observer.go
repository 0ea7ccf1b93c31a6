package raftcore

import (
	"context"
	"time"
)

// SnapshotKind says why a snapshot was taken or installed.
type SnapshotKind string

const (
	// SnapshotAuto: taken after MaxLogEntries applied entries.
	SnapshotAuto SnapshotKind = "auto"
	// SnapshotManual: taken by Node.Snapshot.
	SnapshotManual SnapshotKind = "manual"
	// SnapshotInstalled: received from the leader and restored.
	SnapshotInstalled SnapshotKind = "installed"
	// SnapshotSent: streamed to a follower.
	SnapshotSent SnapshotKind = "sent"
)

// Observer is told what the engine does, for metrics and tracing. Methods are
// called from the engine's goroutines and must not block. The observe module
// implements it with Prometheus and OpenTelemetry; the zero Config uses a
// no-op observer that costs nothing.
type Observer interface {
	// Propose is called when Propose starts, with the caller's context and the
	// encoded command size. The returned context is used for the proposal's
	// work; done is called once with the entry's index (0 if unknown) and the
	// outcome.
	Propose(ctx context.Context, size int) (context.Context, func(index uint64, err error))
	// Read is called when a linearizable Read starts; done is called once with
	// the read index (0 if none was obtained) and the outcome.
	Read(ctx context.Context) (context.Context, func(index uint64, err error))
	// LogSaved reports one LogStore.Save (including its fsync).
	LogSaved(entries, bytes int, d time.Duration, err error)
	// Applied reports one batch of committed entries applied to the state machine.
	Applied(entries int, d time.Duration)
	// Snapshot reports a snapshot taken, installed or sent.
	Snapshot(kind SnapshotKind, d time.Duration, size int64, err error)
}

// StageObserver is an Observer that also follows each proposal through the
// stages between Propose and its done call, for instance to add them to the
// proposal's trace span.
type StageObserver interface {
	Observer
	// ProposalStages is called once per Propose with the context the
	// Observer's Propose returned; the function it returns (nil: none) is
	// called as the proposal reaches each Stage, with the entry's index. It
	// runs on the engine's apply path and must not block.
	ProposalStages(ctx context.Context) func(stage Stage, index uint64)
}

// Stage is a point a proposal passes between Propose and its result.
type Stage string

const (
	// StageCommitted: the entry is committed (replicated to a quorum) and
	// this node, the proposer, is about to apply it.
	StageCommitted Stage = "committed"
)

type nopObserver struct{}

func (nopObserver) Propose(ctx context.Context, _ int) (context.Context, func(uint64, error)) {
	return ctx, nopDone
}

func (nopObserver) Read(ctx context.Context) (context.Context, func(uint64, error)) {
	return ctx, nopDone
}
func (nopObserver) LogSaved(int, int, time.Duration, error)            {}
func (nopObserver) Applied(int, time.Duration)                         {}
func (nopObserver) Snapshot(SnapshotKind, time.Duration, int64, error) {}

func nopDone(uint64, error) {}
