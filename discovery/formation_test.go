package discovery_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/discovery"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// formed is how one node of a formation test started.
type formed struct {
	id  uint64
	f   discovery.Formation
	err error
}

// runFormation starts nodes (ids 1..len(addrs) at addrs) in the order and
// with the delays rng draws; each finds the others through source, forms
// or joins with bootstrap-expect, starts its raft node and, if it joined,
// asks for promotion. It returns the nodes and how each started.
func runFormation(t *testing.T, ctx context.Context, network *transportmem.Network, rng *rand.Rand, addrs []string, source discovery.Source, expect int) ([]*testNode, []formed) {
	t.Helper()
	nodes := make([]*testNode, len(addrs))
	order := rng.Perm(len(nodes))
	delays := make([]time.Duration, len(nodes))
	seeds := make([]uint64, len(nodes))
	for i := range delays {
		delays[i] = time.Duration(rng.IntN(80)) * time.Millisecond
		seeds[i] = rng.Uint64()
	}
	out := make([]formed, len(nodes))
	var wg sync.WaitGroup
	for k, i := range order {
		wg.Go(func() {
			// The start schedule under test: nodes come up (and become
			// visible) in a random order at random times.
			select {
			case <-time.After(delays[k]):
			case <-ctx.Done():
			}
			n, err := tryNewTestNode(t, network, uint64(i+1), addrs[i], [][]byte{testSecret})
			if err != nil {
				out[i] = formed{id: uint64(i + 1), err: err}
				return
			}
			nodes[i] = n
			slow := &slowTransport{StreamTransport: n.tr, rng: rand.New(rand.NewPCG(seeds[k], 2)), max: 30 * time.Millisecond}
			f, err := discovery.Form(ctx, discovery.FormConfig{
				Transport: slow, Server: n.srv, Source: source, Expect: expect,
				ProbeInterval: 20 * time.Millisecond, Rand: rand.New(rand.NewPCG(seeds[k], 1)),
			})
			if err == nil {
				err = n.start(ctx, f.Peers, f.Join)
			}
			if err == nil && f.Join {
				err = discovery.Promote(ctx, discovery.PromoteConfig{Transport: n.tr, Node: n.node, RetryInterval: 20 * time.Millisecond})
			}
			out[i] = formed{id: n.self.ID, f: f, err: err}
		})
	}
	wg.Wait()
	t.Cleanup(func() { stopAll(nodes) })
	return nodes, out
}

// checkOneCluster checks that exactly expect nodes bootstrapped, all with
// the same initial membership, and that every node ends in one cluster of
// all of them, every one a voter.
func checkOneCluster(t *testing.T, nodes []*testNode, out []formed, expect int) {
	t.Helper()
	var initial []uint64
	bootstrapped := 0
	for _, o := range out {
		if o.err != nil {
			t.Fatalf("node %d: %v", o.id, o.err)
		}
		t.Logf("node %d: join %v, peers %v", o.id, o.f.Join, o.f.Peers)
		if o.f.Join {
			continue
		}
		bootstrapped++
		ids := make([]uint64, 0, len(o.f.Peers))
		for _, p := range o.f.Peers {
			ids = append(ids, p.ID)
		}
		slices.Sort(ids)
		if initial == nil {
			initial = ids
		} else if !slices.Equal(initial, ids) {
			t.Fatalf("two initial memberships: %v and %v (node %d): split brain", initial, ids, o.id)
		}
	}
	if bootstrapped != expect || len(initial) != expect {
		t.Fatalf("%d nodes bootstrapped with %v; want %d with a set of %d", bootstrapped, initial, expect, expect)
	}
	waitFor(t, 30*time.Second, "every node sees every node as a voter", func() error {
		for _, n := range nodes {
			if err := wantRoles(n, len(nodes), 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestBootstrapExpectFormsExactlyOneCluster: 5 nodes with bootstrap-expect
// 3 started in 50 randomized orders and timings always form exactly one
// cluster: 3 bootstrap the same membership, the other 2 join it, and all 5
// end as voters (none split, none stuck).
func TestBootstrapExpectFormsExactlyOneCluster(t *testing.T) {
	const seeds, parallel = 50, 5
	base := uint64(time.Now().UnixNano())
	t.Logf("seeds %d..%d (replay one with its number)", base, base+seeds-1)
	sem := make(chan struct{}, parallel)
	for i := range uint64(seeds) {
		seed := base + i
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			formOnce(t, seed)
		})
	}
}

func formOnce(t *testing.T, seed uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	network, err := transportmem.NewNetwork(transportmem.NetworkConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"n1", "n2", "n3", "n4", "n5"}
	var source discovery.StaticSource
	for _, a := range addrs {
		source = append(source, raftcore.Peer{Addr: a})
	}
	nodes, out := runFormation(t, ctx, network, rand.New(rand.NewPCG(seed, 0)), addrs, source, 3)
	checkOneCluster(t, nodes, out, 3)
}

// slowTransport delays the first byte of every answer by up to max: what a
// node learns is that old when it acts on it, as over a real network.
type slowTransport struct {
	raftcore.StreamTransport
	max time.Duration

	mu  sync.Mutex
	rng *rand.Rand
}

func (t *slowTransport) OpenStream(ctx context.Context, to raftcore.Peer, proto string) (raftcore.Stream, error) {
	s, err := t.StreamTransport.OpenStream(ctx, to, proto)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	d := time.Duration(t.rng.Int64N(int64(t.max)))
	t.mu.Unlock()
	return &slowStream{Stream: s, delay: d}, nil
}

type slowStream struct {
	raftcore.Stream
	delay time.Duration
	once  sync.Once
}

func (s *slowStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.once.Do(func() { time.Sleep(s.delay) })
	return n, err
}
