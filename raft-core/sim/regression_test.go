package sim

import (
	"slices"
	"testing"
	"time"
)

// nemesesOfOldSeeds is every nemesis the simulator had before
// NemesisReadError. Its first failed read takes a node down, and the rest of
// the history changes; with this list the seeds found earlier replay the
// history they were found in, trace for trace.
var nemesesOfOldSeeds = AllNemeses[:slices.Index(AllNemeses, NemesisReadError)]

// TestRegressionSeedsPass replays seeds that fail without a workaround the
// simulator has for a gap in what the engine exposes; each must pass.
func TestRegressionSeedsPass(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{
			// A leader refused forever to send a snapshot older than the
			// membership to a new member until the Stepper passed raft's
			// request for a fresh snapshot on (StepperOutput.SnapshotWanted).
			name: "new member after a membership change gets a snapshot",
			cfg:  Config{Seed: 2, Nemeses: nemesesOfOldSeeds},
		},
		{
			// The applier snapshotted entries whose commit the log writer had
			// not saved yet; after a crash raft refused to restart (Applied
			// above the durable commit). Fixed: the engine reports a commit
			// of at least the snapshot's index.
			name: "restart after a snapshot beyond the durable commit index",
			cfg:  Config{Seed: 131, Nemeses: nemesesOfOldSeeds},
		},
		{name: "restart after a snapshot beyond the durable commit index (seed 53)", cfg: Config{Seed: 53, Nemeses: nemesesOfOldSeeds}},
		{name: "restart after a snapshot beyond the durable commit index (seed 1113)", cfg: Config{Seed: 1113, Nemeses: nemesesOfOldSeeds}},
		{name: "restart after a snapshot beyond the durable commit index (seed 1712)", cfg: Config{Seed: 1712, Nemeses: nemesesOfOldSeeds}},
		{
			// With a single voter raft answered a read index with a commit
			// index older than writes acknowledged before a restart
			// (etcd-io/raft#105). Fixed: a leader's read index is at least
			// the first entry of its term.
			name: "single voter serves no stale read after a restart",
			cfg:  Config{Seed: 19, Nodes: 1, Nemeses: nemesesOfOldSeeds},
		},
		{
			// A follower's forwarded proposal delivered twice was appended
			// and applied twice. Fixed: the engine applies a proposal id
			// once per proposing node (appliedProposals).
			name: "duplicated forwarded proposal is applied once",
			cfg:  Config{Seed: 1, Duration: 3 * time.Second, Nemeses: []Nemesis{NemesisDuplicate}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := runSeed(t, tt.cfg); res.Failed() {
				reportFailure(t, tt.cfg, res)
			}
		})
	}
}
