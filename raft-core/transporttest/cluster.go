package transporttest

import (
	"errors"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Node is one transport under test and the Peer that others add to reach it.
type Node struct {
	Peer      raftcore.Peer
	Transport raftcore.Transport
}

// NewCluster creates one transport per id, wired so that each can reach the
// others once they have added each other's Peer. The transports must not be
// started and must not know any peer yet. ids are distinct and non-zero.
//
// The suite closes every transport when the test ends; anything else the
// factory creates (listeners, a shared in-memory network) it releases with
// t.Cleanup, which runs after the transports are closed.
type NewCluster func(t *testing.T, ids []uint64) []Node

// Cluster is a set of started transports that know each other. Recorders[i]
// is the Handler of Nodes[i].
type Cluster struct {
	Nodes     []Node
	Recorders []*Recorder
}

// StartCluster creates n transports with ids 1..n through newCluster, adds
// every node as a peer of every other, and starts each with a new Recorder.
// Every transport is closed when the test ends, after releasing any Recorder
// left blocked.
func StartCluster(t *testing.T, newCluster NewCluster, n int) *Cluster {
	t.Helper()
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	nodes := newCluster(t, ids)
	if len(nodes) != n {
		t.Fatalf("factory returned %d nodes for %d ids", len(nodes), n)
	}
	c := &Cluster{Nodes: nodes, Recorders: make([]*Recorder, n)}
	for i, node := range nodes {
		if node.Peer.ID != ids[i] {
			t.Fatalf("factory returned node %d with id %d, want %d", i, node.Peer.ID, ids[i])
		}
		c.Recorders[i] = NewRecorder()
	}
	var releases []func()
	t.Cleanup(func() {
		for _, release := range releases {
			release()
		}
		for _, node := range nodes {
			if err := node.Transport.Close(); err != nil && !errors.Is(err, raftcore.ErrClosed) {
				t.Errorf("closing transport %d: %v", node.Peer.ID, err)
			}
		}
	})
	for i, node := range nodes {
		// Recorders may be blocked by a test; the cleanup above releases them
		// before closing, since Close may wait for deliveries in progress.
		releases = append(releases, c.Recorders[i].releaseGate)
		for _, other := range nodes {
			if other.Peer.ID == node.Peer.ID {
				continue
			}
			if err := node.Transport.AddPeer(other.Peer); err != nil {
				t.Fatalf("node %d: AddPeer(%v): %v", node.Peer.ID, other.Peer, err)
			}
		}
	}
	for i, node := range nodes {
		if err := node.Transport.Start(c.Recorders[i]); err != nil {
			t.Fatalf("node %d: Start: %v", node.Peer.ID, err)
		}
	}
	return c
}

// Node returns the transport with raft id id (1-based).
func (c *Cluster) Node(id uint64) raftcore.Transport { return c.Nodes[id-1].Transport }

// Peer returns the Peer of node id.
func (c *Cluster) Peer(id uint64) raftcore.Peer { return c.Nodes[id-1].Peer }

// Recorder returns the Handler of node id.
func (c *Cluster) Recorder(id uint64) *Recorder { return c.Recorders[id-1] }

// WaitClosed waits for ch to be closed (or to yield a value) and fails the
// test with what if it does not happen within timeout.
func WaitClosed[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: not done after %v", what, timeout)
		var zero T
		return zero
	}
}
