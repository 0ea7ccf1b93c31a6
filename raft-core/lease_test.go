package raftcore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.etcd.io/raft/v3/raftpb"
)

// gatedTransport holds every Send while closed: the raft goroutine, which
// sends, then waits there.
type gatedTransport struct {
	raftcore.Transport
	mu      sync.Mutex
	gate    chan struct{} // nil while open
	waiting chan struct{} // closed once a Send waits at the gate
	once    sync.Once
}

func (g *gatedTransport) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.waiting, g.once = make(chan struct{}), make(chan struct{}), sync.Once{}
}

func (g *gatedTransport) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

func (g *gatedTransport) Send(msgs []*raftpb.Message) {
	g.mu.Lock()
	gate, waiting := g.gate, g.waiting
	g.mu.Unlock()
	if gate != nil {
		g.once.Do(func() { close(waiting) })
		<-gate
	}
	g.Transport.Send(msgs)
}

// TestLeaseReadsAreServedWithoutTheRaftGoroutine: while its lease holds, a
// leader answers a read on the caller's goroutine. The raft goroutine is
// held inside a Send for the whole read; the clock is frozen, so the lease
// cannot run out whatever the machine's speed.
func TestLeaseReadsAreServedWithoutTheRaftGoroutine(t *testing.T) {
	frozen := time.Now()
	var mu sync.Mutex
	gates := map[uint64]*gatedTransport{}
	opts := clustertest.Options{
		NewNetwork: clustertest.NewLoopback,
		Configure: func(c *raftcore.Config) {
			c.LeaseReads = true
			c.Now = func() time.Time { return frozen }
			g := &gatedTransport{Transport: c.Transport}
			c.Transport = g
			mu.Lock()
			gates[c.NodeID] = g
			mu.Unlock()
		},
	}
	c := clustertest.NewCluster(t, opts, 3,
		func() raftcore.StateMachine[clustertest.KVCommand, clustertest.KVResult] { return clustertest.NewKV() },
		clustertest.JSONCodec[clustertest.KVCommand]{})
	ctx := clustertest.Context(t, 30*time.Second)
	l := c.Leader()
	if _, err := l.Propose(ctx, clustertest.KVCommand{Op: "put", Key: "k", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	// The first read takes a round, which starts the lease.
	if err := l.Read(ctx, func() error { return nil }); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	g := gates[l.ID()]
	mu.Unlock()
	g.close()
	defer g.open()
	select {
	case <-g.waiting: // a heartbeat's Send
	case <-ctx.Done():
		t.Fatal("the leader's raft goroutine sent nothing")
	}
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var got string
	err := l.Read(readCtx, func() error { got = l.SM.(*clustertest.KV).Data["k"]; return nil })
	if err != nil {
		t.Fatalf("lease read while the raft goroutine was busy: %v", err)
	}
	if got != "v" {
		t.Fatalf("lease read saw %q, want %q", got, "v")
	}
}
