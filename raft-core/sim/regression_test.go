package sim

import (
	"strings"
	"testing"
	"time"
)

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
			cfg:  Config{Seed: 2, Nemeses: AllNemeses},
		},
		{
			// The applier snapshotted entries whose commit the log writer had
			// not saved yet; after a crash raft refused to restart (Applied
			// above the durable commit). Fixed: the engine reports a commit
			// of at least the snapshot's index.
			name: "restart after a snapshot beyond the durable commit index",
			cfg:  Config{Seed: 131, Nemeses: AllNemeses},
		},
		{name: "restart after a snapshot beyond the durable commit index (seed 53)", cfg: Config{Seed: 53, Nemeses: AllNemeses}},
		{name: "restart after a snapshot beyond the durable commit index (seed 1113)", cfg: Config{Seed: 1113, Nemeses: AllNemeses}},
		{name: "restart after a snapshot beyond the durable commit index (seed 1712)", cfg: Config{Seed: 1712, Nemeses: AllNemeses}},
		{
			// With a single voter raft answered a read index with a commit
			// index older than writes acknowledged before a restart
			// (etcd-io/raft#105). Fixed: a leader's read index is at least
			// the first entry of its term.
			name: "single voter serves no stale read after a restart",
			cfg:  Config{Seed: 19, Nodes: 1, Nemeses: AllNemeses},
		},
		{
			// The duplicate nemesis leaves forwarded proposals alone (see
			// TestKnownEngineBugsStillReproduce); this seed fails otherwise.
			name: "duplicated messages other than forwarded proposals are harmless",
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

// TestKnownEngineBugsStillReproduce pins the seeds that found engine bugs
// not fixed yet, and checks the simulator still finds each. Once the engine
// is fixed, the seed stops reproducing and this test fails: move the case to
// TestRegressionSeedsPass (and, for the duplicate proposals, turn
// DuplicateProposals on by default).
func TestKnownEngineBugsStillReproduce(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{
			// A follower forwards a proposal to the leader as a MsgProp; when
			// the network delivers that message twice, the leader appends it
			// twice and every node applies the command twice.
			name: "duplicated forwarded proposal is applied twice",
			cfg:  Config{Seed: 1, Duration: 3 * time.Second, Nemeses: []Nemesis{NemesisDuplicate}, DuplicateProposals: true},
			want: "exactly once",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runSeed(t, tt.cfg)
			if !strings.Contains(strings.Join(res.Violations, "\n"), tt.want) {
				t.Fatalf("%s no longer reproduces (%q not among %q): if the engine was fixed, move the seed to TestRegressionSeedsPass\nreproduce: %s", tt.name, tt.want, res.Violations, reproduce(tt.cfg))
			}
		})
	}
}
