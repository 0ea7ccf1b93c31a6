package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// FormConfig configures Form.
type FormConfig struct {
	// Transport carries this node's identity. Required.
	Transport raftcore.StreamTransport
	// Server is this node's discovery server (Mount), which answers the
	// other forming nodes meanwhile. Required.
	Server *Server
	// Source finds the other nodes. Required.
	Source Source
	// Expect is the number of voters the new cluster starts with. Required.
	Expect int
	// ProbeInterval is the pause between two rounds. Default:
	// DefaultRetryInterval, with up to half of it added at random.
	ProbeInterval time.Duration
	// Rand draws the jitter. Default: a generator seeded at random.
	Rand *rand.Rand
	// Logger receives what the formation waits for. Default: discard.
	Logger *slog.Logger
}

// Formation is how a fresh node starts.
type Formation struct {
	// Peers are the initial members to bootstrap with (Join false), or the
	// current members of the cluster this node joined (Join true).
	Peers []raftcore.Peer
	// Join: the node was added as a learner to an existing cluster; it
	// starts with an empty log and asks for promotion (Promote).
	Join bool
}

// Form finds the other nodes through cfg.Source and returns how this
// fresh node starts, Consul's bootstrap-expect done deterministically:
//
//   - a node that finds a running cluster joins it (as a learner, promoted
//     by the autopilot once caught up);
//   - once Expect fresh nodes are visible, the lowest id among the Expect
//     lowest (the decider) asks each of them to promise to form exactly that
//     set; a node promises one decider at a time. With every promise the
//     decider forms the set; refused, it releases them and tries again
//     after a random pause. The promised nodes learn the formed set from
//     the decider and start with it, so every member bootstraps the same
//     initial membership;
//   - with fewer than Expect visible, it waits and says so (Server.Waiting,
//     the log).
//
// Two deciders never both succeed when their sets overlap, which holds
// whenever Expect is more than half the nodes started at once from the same
// source. A decider that dies holding promises leaves the promised nodes
// waiting for it (or for a running cluster to join). A promised node that
// restarts keeps its promise only with ServerConfig.Promises. Form returns ctx's error when ctx ends first.
func Form(ctx context.Context, cfg FormConfig) (Formation, error) {
	switch {
	case cfg.Transport == nil || cfg.Server == nil || cfg.Source == nil:
		return Formation{}, fmt.Errorf("%w: FormConfig needs Transport, Server and Source", ErrInvalid)
	case cfg.Expect < 1:
		return Formation{}, fmt.Errorf("%w: bootstrap-expect %d: want at least 1", ErrInvalid, cfg.Expect)
	}
	f := former{cfg: cfg, self: cfg.Server.cfg.Self}
	if f.cfg.ProbeInterval == 0 {
		f.cfg.ProbeInterval = DefaultRetryInterval
	}
	if f.cfg.Rand == nil {
		f.cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if f.cfg.Logger == nil {
		f.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for {
		if out, done := f.round(ctx); done {
			return out, nil
		}
		pause := f.cfg.ProbeInterval + time.Duration(f.cfg.Rand.Int64N(int64(f.cfg.ProbeInterval)/2+1))
		select {
		case <-ctx.Done():
			return Formation{}, fmt.Errorf("discovery: bootstrap-expect %d: %w (%s)", cfg.Expect, ctx.Err(), cfg.Server.Waiting())
		case <-time.After(pause):
		}
	}
}

type former struct {
	cfg  FormConfig
	self raftcore.Peer // Addr: as the others see it
	said string
}

// wait records and logs (once per change) what the formation waits for.
func (f *former) wait(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	f.cfg.Server.setWaiting(w)
	if w != f.said {
		f.said = w
		f.cfg.Logger.Info("bootstrap-expect waiting", "expect", f.cfg.Expect, "why", w)
	}
}

// probed is one answer to a probe.
type probed struct {
	addr string
	resp response
}

func (f *former) probeAll(ctx context.Context) []probed {
	eps, err := f.cfg.Source.Discover(ctx)
	if err != nil {
		f.wait("source %s: %v", f.cfg.Source, err)
		return nil
	}
	var (
		mu  sync.Mutex
		out []probed
		wg  sync.WaitGroup
	)
	for _, ep := range eps {
		if ep.Addr == f.self.Addr {
			continue
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			resp, err := call(pctx, f.cfg.Transport, ep, request{Op: opProbe, From: f.self.ID})
			if err != nil || resp.Node.ID == 0 {
				return
			}
			if resp.Node.ID == f.self.ID {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, probed{addr: ep.Addr, resp: resp})
		})
	}
	wg.Wait()
	for _, p := range out {
		// A node listening on every interface (0.0.0.0) is known by the
		// address the others see it come from.
		f.self.Addr = reachableAddr(f.self.Addr, p.resp.SeenAs)
	}
	slices.SortFunc(out, func(a, b probed) int { return cmpID(a.resp.Node.ID, b.resp.Node.ID) })
	return out
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func contains(ws []wirePeer, id uint64) bool {
	return slices.ContainsFunc(ws, func(w wirePeer) bool { return w.ID == id })
}

// round probes once and acts; done reports a decision.
func (f *former) round(ctx context.Context) (Formation, bool) {
	seen := f.probeAll(ctx)
	// A set that was formed with this node in it: start with it.
	for _, p := range seen {
		if contains(p.resp.Formed, f.self.ID) {
			set := peersOf(p.resp.Formed)
			f.cfg.Server.setFormed(set)
			f.cfg.Logger.Info("bootstrap-expect: starting the formed cluster", "decider", p.resp.Node.ID, "members", len(set))
			return Formation{Peers: set}, true
		}
	}
	// A running cluster without this node: join it.
	var running []raftcore.Peer
	for _, p := range seen {
		if len(p.resp.Members) > 0 {
			running = append(running, raftcore.Peer{ID: p.resp.Node.ID, Addr: p.addr, Key: p.resp.Node.Key})
		}
	}
	if len(running) > 0 {
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		members, err := Join(jctx, JoinConfig{Transport: f.cfg.Transport, Self: f.self, Endpoints: running, Logger: f.cfg.Logger})
		if err != nil {
			f.wait("joining the running cluster: %v", err)
			return Formation{}, false
		}
		f.cfg.Logger.Info("bootstrap-expect: joined the running cluster", "members", len(members))
		return Formation{Peers: members, Join: true}, true
	}
	if slices.ContainsFunc(seen, func(p probed) bool { return p.resp.Formed != nil }) {
		f.wait("a cluster is being formed without this node; waiting for it to run")
		return Formation{}, false
	}
	if decider, _ := f.cfg.Server.lockedSet(); decider != 0 && decider != f.self.ID {
		f.wait("promised to form with node %d", decider)
		return Formation{}, false
	}
	fresh := []raftcore.Peer{f.self}
	for _, p := range seen {
		if p.resp.Fresh {
			fresh = append(fresh, raftcore.Peer{ID: p.resp.Node.ID, Addr: p.addr, Key: p.resp.Node.Key})
		}
	}
	if len(fresh) < f.cfg.Expect {
		f.wait("%d of %d expected nodes visible", len(fresh), f.cfg.Expect)
		return Formation{}, false
	}
	slices.SortFunc(fresh, func(a, b raftcore.Peer) int { return cmpID(a.ID, b.ID) })
	set := fresh[:f.cfg.Expect]
	if set[0].ID != f.self.ID {
		f.wait("waiting for node %d to form the cluster", set[0].ID)
		return Formation{}, false
	}
	if f.lockAll(ctx, set) {
		f.cfg.Server.setFormed(set)
		f.cfg.Logger.Info("bootstrap-expect: formed a cluster", "members", len(set))
		return Formation{Peers: slices.Clone(set)}, true
	}
	f.wait("another node is forming a cluster; trying again")
	return Formation{}, false
}

// lockAll takes the promise of every node of set (this one first), or
// releases every promise it may have taken and returns false.
func (f *former) lockAll(ctx context.Context, set []raftcore.Peer) bool {
	if _, err := f.cfg.Server.lockFor(f.self.ID, set); err != nil {
		return false
	}
	wire := make([]wirePeer, 0, len(set))
	for _, p := range set {
		wire = append(wire, toWire(p))
	}
	ok := true
	for _, p := range set[1:] {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := call(lctx, f.cfg.Transport, p, request{Op: opLock, From: f.self.ID, Set: wire})
		cancel()
		if err != nil {
			ok = false
			break
		}
	}
	if ok {
		return true
	}
	for _, p := range set[1:] {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = call(uctx, f.cfg.Transport, p, request{Op: opUnlock, From: f.self.ID})
		cancel()
	}
	f.cfg.Server.unlock(f.self.ID)
	return false
}
