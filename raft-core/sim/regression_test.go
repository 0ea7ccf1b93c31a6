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
			// membership to a new member: a Stepper does not pass the
			// engine's request for a fresh snapshot on, so the simulator
			// snapshots after every membership change. Without that, this
			// seed never converges.
			name: "new member after a membership change gets a snapshot",
			cfg:  Config{Seed: 2, Nemeses: AllNemeses},
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
			// The applier snapshots at an applied index beyond the commit
			// index the log writer has made durable (raft hands committed
			// entries to the applier before the HardState that commits them
			// is saved). After a crash, the node restores that snapshot and
			// passes its index as raft.Config.Applied, above the durable
			// commit: raft panics and the node never starts again.
			name: "restart after a snapshot beyond the durable commit index",
			cfg:  Config{Seed: 131, Nemeses: AllNemeses},
			want: "is out of range [prevApplied",
		},
		{
			// In a cluster with a single voter, raft v3.7.0 answers ReadIndex
			// with its commit index at once, even before it has committed an
			// entry in its term (it checks that only with several voters).
			// After a restart, that commit index is the durable one, which
			// can be behind what the node committed and acknowledged before
			// the crash: a linearizable read returns an old value.
			// etcd-io/raft#105 describes the same gap.
			name: "single voter serves a stale read index after a restart",
			cfg:  Config{Seed: 19, Nodes: 1, Nemeses: AllNemeses},
			want: "linearizability",
		},
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
