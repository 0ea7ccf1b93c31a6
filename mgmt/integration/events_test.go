package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestEventsResumeAcrossLeaderChange follows the leader's event stream,
// then, while the reader is held up after the first membership event,
// moves leadership away, stops the old leader and makes two more membership
// changes. The stream must resume on another node and deliver exactly the
// three membership events, in order, none missing and none twice.
func TestEventsResumeAcrossLeaderChange(t *testing.T) {
	for _, s := range setups[:2] {
		t.Run(s.name, func(t *testing.T) {
			ctx := testContext(t, 90*time.Second)
			c := newCluster(t, s, 3)
			old := c.leader()
			base := old.node.Status().AppliedIndex
			// The stream starts on the leader; the others come after it.
			endpoints := c.endpoints(old.id)
			for _, m := range c.running() {
				if m.id != old.id {
					endpoints = append(endpoints, raftcore.Peer{Addr: m.peer.Addr, Key: m.peer.Key})
				}
			}
			cl, err := mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: c.clientTransport(c.admin, true), RetryBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}

			var (
				mu      sync.Mutex
				cluster []mgmt.Event
			)
			gate := make(chan struct{})
			firstSeen := make(chan struct{})
			var once sync.Once
			streamCtx, stopStream := context.WithCancel(ctx)
			streamDone := make(chan error, 1)
			go func() {
				streamDone <- cl.Events(streamCtx, mgmt.EventsOptions{Since: base, Follow: true}, func(ev mgmt.Event) error {
					if !ev.Cluster() {
						return nil
					}
					mu.Lock()
					cluster = append(cluster, ev)
					mu.Unlock()
					once.Do(func() {
						close(firstSeen)
						select {
						case <-gate:
						case <-streamCtx.Done():
						}
					})
					return nil
				})
			}()
			t.Cleanup(func() {
				stopStream()
				<-streamDone
			})

			n4 := c.join(4)
			if err := cl.MemberAdd(ctx, 4, n4.peer.Addr, n4.peer.Key, true); err != nil {
				t.Fatal(err)
			}
			select {
			case <-firstSeen:
			case <-ctx.Done():
				t.Fatal("no event for adding member 4")
			}
			// The reader is held up: change leader, stop the old one, and
			// make two more changes it has not seen.
			waitCaughtUp(t, ctx, cl, 4)
			if _, err := cl.LeaderTransfer(ctx, 0); err != nil {
				t.Fatal(err)
			}
			c.stop(old.id)
			if err := cl.MemberPromote(ctx, 4); err != nil {
				t.Fatal(err)
			}
			if err := cl.MemberRemove(ctx, old.id); err != nil {
				t.Fatal(err)
			}
			close(gate)

			want := []string{
				fmt.Sprintf("%s 4 %s", mgmt.EventMemberAdded, mgmt.RoleLearner),
				fmt.Sprintf("%s 4 %s", mgmt.EventMemberAdded, mgmt.RoleVoter),
				fmt.Sprintf("%s %d ", mgmt.EventMemberRemoved, old.id),
			}
			clustertest.WaitFor(t, "three membership events", 30*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(cluster) >= len(want)
			})
			mu.Lock()
			got := append([]mgmt.Event(nil), cluster...)
			mu.Unlock()
			if len(got) != len(want) {
				t.Fatalf("cluster events %v, want %v", got, want)
			}
			for i, ev := range got {
				desc := fmt.Sprintf("%s %d %s", ev.Type, ev.Member.ID, ev.Member.Role)
				if desc != want[i] {
					t.Errorf("event %d = %q (seq %d from node %d), want %q", i, desc, ev.Seq, ev.Node, want[i])
				}
				if i > 0 && ev.Seq <= got[i-1].Seq {
					t.Errorf("event %d has seq %d after %d", i, ev.Seq, got[i-1].Seq)
				}
			}
			if last := got[len(got)-1]; last.Node == old.id {
				t.Errorf("the last event came from node %d, which was stopped before it happened", old.id)
			}
			stopStream()
			if err := <-streamDone; !errors.Is(err, context.Canceled) {
				t.Errorf("Events returned %v after its context was cancelled", err)
			}
			streamDone <- nil
		})
	}
}
