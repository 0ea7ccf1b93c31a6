package integration

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestStepsThatWouldLoseTheQuorumAreRefused: with one of three voters
// killed, removing another is refused before anything changes; up brings
// the killed member back; and a cluster taken down is updated offline.
func TestStepsThatWouldLoseTheQuorumAreRefused(t *testing.T) {
	tc := newTestCluster(t, binV1, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := tc.local.Up(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := tc.local.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim, other deploy.NodeStatus
	for _, n := range st.Nodes {
		if n.ID == st.Leader {
			continue
		}
		if victim.ID == 0 {
			victim = n
		} else {
			other = n
		}
	}
	t.Logf("leader %d; killing node %d, then removing node %d", st.Leader, victim.ID, other.ID)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait until the leader has noticed, so that the refusal below is the
	// quorum rule's and not a race with the leader's view.
	dial := quicDial([]byte(clusterSecret))
	clustertest.WaitFor(t, "the leader to see the killed node inactive", 30*time.Second, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cl, closeFn, err := dial(cctx, []raftcore.Peer{{ID: other.ID, Addr: other.RaftAddr}})
		if err != nil {
			return false
		}
		defer closeFn()
		ms, err := cl.Status(cctx)
		if err != nil || ms.ID != ms.Leader {
			return false
		}
		for _, m := range ms.Members {
			if m.ID == victim.ID {
				return m.Role == mgmt.RoleVoter && !m.Active
			}
		}
		return false
	})
	err = tc.local.RemoveNode(ctx, other.ID, false)
	if !errors.Is(err, deploy.ErrQuorum) {
		t.Fatalf("removing node %d with node %d down: %v, want ErrQuorum", other.ID, victim.ID, err)
	}
	t.Logf("refused as expected: %v", err)

	if err := tc.local.Up(ctx); err != nil {
		t.Fatalf("up with node %d killed: %v", victim.ID, err)
	}
	tc.wantVersions(t, "v1.0.0-test", 3)

	if err := tc.local.Down(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := tc.local.RollingUpdate(ctx, binV2)
	if err != nil {
		t.Fatalf("update of a cluster that is down: %v", err)
	}
	if len(rep.Updated) != 3 {
		t.Fatalf("updated %v, want all three members", rep.Updated)
	}
	tc.wantVersions(t, "v2.0.0-test", 3)
}
