package discovery

import (
	"context"
	"sync"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Node states a probe reports.
const (
	StateForming = "forming" // fresh: looking for nodes to form a cluster with (see NodeInfo.Waiting)
	StateFormed  = "formed"  // its initial membership is decided; its raft node is starting
	StateMember  = "member"  // its raft node runs
)

// NodeInfo is what a node tells a probe about itself.
type NodeInfo struct {
	// Addr is where it was probed.
	Addr string
	ID   uint64
	Key  []byte
	// State is StateForming, StateFormed or StateMember; empty when Err is
	// set.
	State string
	// Waiting says what a forming node waits for ("2 of 3 expected nodes
	// visible").
	Waiting string
	// LockedBy is the node it promised to form a cluster with, or 0.
	LockedBy uint64
	// Leader is the leader it knows (a member), and Members how many
	// members its configuration has.
	Leader  uint64
	Members int
	// Err is why the node could not be probed.
	Err error
}

// Probe asks every endpoint about itself, at once, and returns one
// NodeInfo per endpoint in the same order. It needs no membership: any
// node reachable over tr answers, forming or running.
func Probe(ctx context.Context, tr raftcore.StreamTransport, endpoints []raftcore.Peer) []NodeInfo {
	out := make([]NodeInfo, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			info := NodeInfo{Addr: ep.Addr}
			resp, err := call(ctx, tr, ep, request{Op: opProbe})
			if err != nil {
				info.Err = err
				out[i] = info
				return
			}
			info.ID, info.Key = resp.Node.ID, resp.Node.Key
			info.LockedBy, info.Leader, info.Members = resp.LockedBy, resp.Leader, len(resp.Members)
			switch {
			case len(resp.Members) > 0:
				info.State = StateMember
			case resp.Fresh:
				info.State, info.Waiting = StateForming, resp.Waiting
			default:
				info.State = StateFormed
			}
			out[i] = info
		})
	}
	wg.Wait()
	return out
}
