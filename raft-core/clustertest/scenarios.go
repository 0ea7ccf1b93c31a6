package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Run runs every cluster scenario against the network (and stores) in opts.
// Each scenario is a subtest; the calling package should check for goroutine
// leaks (goleak.VerifyTestMain) so that graceful close is verified too.
func Run(t *testing.T, opts Options) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, opts Options)
	}{
		{"ElectionThreeNodes", func(t *testing.T, o Options) { testElection(t, o, 3) }},
		{"ElectionFiveNodes", func(t *testing.T, o Options) { testElection(t, o, 5) }},
		{"Replication", testReplication},
		{"FollowerProposalReturnsApplyResult", testFollowerProposal},
		{"LinearizableAndStaleReads", testReads},
		{"LeaderKillAndRestartLosesNoAcknowledgedWrite", testLeaderKill},
		{"MinorityPartitionCannotCommitMajorityCan", func(t *testing.T, o Options) { testPartition(t, o, 3) }},
		{"FiveNodeMinorityPartition", func(t *testing.T, o Options) { testPartition(t, o, 5) }},
		{"MembershipChangesUnderLoad", testMembershipUnderLoad},
		{"LeadershipTransfer", testTransfer},
		{"SnapshotCatchUpOfNewLearner", testSnapshotCatchUp},
		{"GracefulCloseHandsOffLeadership", testGracefulClose},
		{"BankConservesMoneyAcrossLeaderChange", testBank},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.run(t, opts) })
	}
}

type kvCluster = Cluster[KVCommand, KVResult]

func newKV(t *testing.T, opts Options, n int) *kvCluster {
	return NewCluster(t, opts, n, func() raftcore.StateMachine[KVCommand, KVResult] { return NewKV() }, JSONCodec[KVCommand]{})
}

func kvOf(n *Node[KVCommand, KVResult]) *KV { return n.SM.(*KV) }

// get reads key on n without a quorum round.
func get(n *Node[KVCommand, KVResult], key string) (string, bool) {
	var v string
	var ok bool
	_ = n.ReadStale(func() error { v, ok = kvOf(n).Data[key]; return nil })
	return v, ok
}

// put writes key=value through n. A put is idempotent, so an attempt whose
// outcome is unknown (its forwarded proposal may have been lost) is retried.
func put(t testing.TB, n *Node[KVCommand, KVResult], key, value string) KVResult {
	t.Helper()
	ctx := Context(t, 15*time.Second)
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := n.Propose(attempt, KVCommand{Op: "put", Key: key, Value: value})
		cancel()
		switch {
		case err == nil:
			return res
		case ctx.Err() != nil || errors.Is(err, raftcore.ErrStopped):
			t.Fatalf("put %s on node %d: %v", key, n.ID(), err)
		}
	}
}

// putAnywhere retries a put on running nodes until one acknowledges it or
// ctx ends; it reports whether the write was acknowledged.
func putAnywhere(ctx context.Context, c *kvCluster, rng *rand.Rand, key, value string) bool {
	for ctx.Err() == nil {
		ids := c.Running()
		if len(ids) == 0 {
			return false
		}
		n := c.Node(ids[rng.IntN(len(ids))])
		if n == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := n.Propose(pctx, KVCommand{Op: "put", Key: key, Value: value})
		cancel()
		if err == nil {
			return true
		}
		if errors.Is(err, raftcore.ErrStopped) || errors.Is(err, raftcore.ErrRemoved) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond): // back off before retrying elsewhere
		}
	}
	return false
}

// loadGenerator writes unique keys from several goroutines until stopped and
// remembers every acknowledged write.
type loadGenerator struct {
	c      *kvCluster
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  map[string]string
	count  atomic.Int64
}

func startLoad(t testing.TB, c *kvCluster, workers int) *loadGenerator {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	g := &loadGenerator{c: c, cancel: cancel, acked: map[string]string{}}
	for w := range workers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil; i++ {
				key, val := fmt.Sprintf("load-%d-%d", w, i), fmt.Sprintf("v%d", i)
				if putAnywhere(ctx, c, rng, key, val) {
					g.mu.Lock()
					g.acked[key] = val
					g.mu.Unlock()
					g.count.Add(1)
				}
			}
		}()
	}
	t.Cleanup(g.stop)
	return g
}

func (g *loadGenerator) waitCount(t testing.TB, n int64) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d acknowledged writes", n), 20*time.Second, func() bool { return g.count.Load() >= n })
}

func (g *loadGenerator) stop() {
	g.cancel()
	g.wg.Wait()
}

// verify checks that every acknowledged write is on every running node.
func (g *loadGenerator) verify(t testing.TB) {
	t.Helper()
	g.stop()
	lead := g.c.Leader()
	// A committed no-op read barrier: after it, every node that applies up to
	// the leader's commit index has all acknowledged writes.
	if err := lead.Read(Context(t, 10*time.Second), func() error { return nil }); err != nil {
		t.Fatalf("read barrier: %v", err)
	}
	g.c.WaitApplied(lead.Status().CommitIndex)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range g.c.Running() {
		n := g.c.Node(id)
		for k, v := range g.acked {
			if got, ok := get(n, k); !ok || got != v {
				t.Fatalf("node %d lost acknowledged write %s=%s (has %q, %v)", id, k, v, got, ok)
			}
		}
	}
	if len(g.acked) == 0 {
		t.Fatal("load generator had no acknowledged write")
	}
}

func testElection(t *testing.T, opts Options, n int) {
	c := newKV(t, opts, n)
	lead := c.Leader()
	st := lead.Status()
	if st.Role != raftcore.RoleLeader || st.Term == 0 {
		t.Fatalf("leader status = %+v", st)
	}
	if len(st.Members) != n {
		t.Fatalf("leader sees %d members, want %d", len(st.Members), n)
	}
	for _, m := range st.Members {
		if m.Role != raftcore.MemberVoter || m.Addr == "" {
			t.Fatalf("member %+v: want a voter with an address", m)
		}
	}
	leaders := 0
	for _, id := range c.Running() {
		if c.Node(id).IsLeader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d nodes believe they lead", leaders)
	}
}

func testReplication(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	lead := c.Leader()
	writes := 200
	if opts.Short {
		writes = 50
	}
	var last uint64
	for i := range writes {
		last = put(t, lead, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)).Index
	}
	c.WaitApplied(last)
	for _, id := range c.Running() {
		n := c.Node(id)
		for i := range writes {
			if v, _ := get(n, fmt.Sprintf("k%d", i)); v != fmt.Sprintf("v%d", i) {
				t.Fatalf("node %d: k%d = %q", id, i, v)
			}
		}
	}
}

func testFollowerProposal(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	f := c.Follower()
	first := put(t, f, "x", "1")
	second := put(t, f, "x", "2")
	if second.Prev != "1" || second.Index <= first.Index {
		t.Fatalf("second put returned %+v after %+v; want Prev=1 and a later index", second, first)
	}
	res, err := f.Propose(Context(t, 10*time.Second), KVCommand{Op: "cas", Key: "x", Expect: "1", Value: "3"})
	if err != nil || res.OK {
		t.Fatalf("cas with stale expectation = %+v, %v; want OK=false", res, err)
	}
	res, err = f.Propose(Context(t, 10*time.Second), KVCommand{Op: "cas", Key: "x", Expect: "2", Value: "3"})
	if err != nil || !res.OK || res.Prev != "2" {
		t.Fatalf("cas = %+v, %v; want OK with Prev=2", res, err)
	}
	// Results are computed by the proposer's own state machine: concurrent
	// proposals from several followers each get their own entry's result.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.Node(c.Running()[i%3])
			key := fmt.Sprintf("c%d", i)
			r, err := n.Propose(Context(t, 10*time.Second), KVCommand{Op: "put", Key: key, Value: "v"})
			if err == nil && (r.Prev != "" || r.Index == 0) {
				err = fmt.Errorf("put %s returned %+v", key, r)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func testReads(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	lead := c.Leader()
	for i := range 20 {
		writer := c.Node(c.Running()[i%3])
		reader := c.Node(c.Running()[(i+1)%3])
		val := fmt.Sprintf("v%d", i)
		put(t, writer, "r", val)
		var got string
		err := reader.Read(Context(t, 10*time.Second), func() error {
			got = kvOf(reader).Data["r"]
			return nil
		})
		if err != nil || got != val {
			t.Fatalf("linearizable read on node %d after write on %d = %q, %v; want %q", reader.ID(), writer.ID(), got, err, val)
		}
	}
	// Cut a follower off: stale reads still answer locally, linearizable
	// reads cannot complete.
	f := c.Follower()
	c.WaitApplied(lead.Status().CommitIndex)
	var others []uint64
	for _, id := range c.Running() {
		if id != f.ID() {
			others = append(others, id)
		}
	}
	c.Net.Partition([]uint64{f.ID()}, others)
	put(t, lead, "r", "after-partition")
	if v, _ := get(f, "r"); v != "v19" {
		t.Fatalf("stale read on the partitioned follower = %q, want the last value it saw (v19)", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := f.Read(ctx, func() error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("linearizable read on a partitioned follower = %v, want deadline exceeded", err)
	}
	c.Net.Heal()
	var got string
	if err := f.Read(Context(t, 10*time.Second), func() error { got = kvOf(f).Data["r"]; return nil }); err != nil || got != "after-partition" {
		t.Fatalf("read after heal = %q, %v", got, err)
	}
	errFn := errors.New("from fn")
	if err := f.Read(Context(t, 10*time.Second), func() error { return errFn }); !errors.Is(err, errFn) {
		t.Fatalf("Read returned %v, want fn's error", err)
	}
}

func testLeaderKill(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	g := startLoad(t, c, 4)
	g.waitCount(t, 50)
	old := c.Leader()
	c.Kill(old.ID())
	before := g.count.Load()
	newLead := c.Leader()
	if newLead.ID() == old.ID() {
		t.Fatal("killed node still leads")
	}
	g.waitCount(t, before+50)
	c.Start(old.ID(), false)
	g.waitCount(t, g.count.Load()+30)
	g.verify(t)
}

func testPartition(t *testing.T, opts Options, n int) {
	c := newKV(t, opts, n)
	lead := c.Leader()
	put(t, lead, "p", "before")
	// Isolate the leader with a minority (alone for 3 nodes, with one other for 5).
	minority := []uint64{lead.ID()}
	var majority []uint64
	for _, id := range c.Running() {
		if id == lead.ID() {
			continue
		}
		if len(minority) < (n-1)/2 {
			minority = append(minority, id)
		} else {
			majority = append(majority, id)
		}
	}
	c.Net.Partition(minority, majority)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := lead.Propose(ctx, KVCommand{Op: "put", Key: "p", Value: "minority"})
	cancel()
	if err == nil {
		t.Fatal("a minority committed a write")
	}
	newLead := c.Leader(majority...)
	put(t, newLead, "p", "majority")
	for _, id := range minority {
		if v, _ := get(c.Node(id), "p"); v != "before" {
			t.Fatalf("minority node %d sees p=%q", id, v)
		}
	}
	c.Net.Heal()
	final := put(t, c.Leader(), "p2", "healed")
	c.WaitApplied(final.Index)
	for _, id := range c.Running() {
		if v, _ := get(c.Node(id), "p"); v != "majority" {
			t.Fatalf("after heal node %d sees p=%q, want the majority's value", id, v)
		}
	}
}

func testMembershipUnderLoad(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	g := startLoad(t, c, 3)
	g.waitCount(t, 20)
	ctx := Context(t, 30*time.Second)

	lead := c.Leader()
	c.Start(4, true)
	if err := lead.AddLearner(ctx, c.Net.Peer(4)); err != nil {
		t.Fatalf("add learner: %v", err)
	}
	WaitFor(t, "learner 4 to catch up", 15*time.Second, func() bool {
		n4 := c.Node(4)
		return n4.Status().Role == raftcore.RoleLearner && n4.AppliedIndex()+50 >= c.Leader().Status().CommitIndex
	})
	c.WaitApplied(c.Leader().Status().CommitIndex)
	var nle *raftcore.NotLeaderError
	if err := c.Follower().PromoteLearner(ctx, 4); !errors.As(err, &nle) || nle.LeaderID != c.Leader().ID() || nle.LeaderAddr == "" {
		t.Fatalf("promote on a follower = %v, want a NotLeaderError naming the leader", err)
	}
	if err := c.Leader().PromoteLearner(ctx, 4); err != nil {
		t.Fatalf("promote: %v", err)
	}
	g.waitCount(t, g.count.Load()+20)

	// Remove a follower, then the leader itself.
	lead = c.Leader()
	var victim uint64
	for _, id := range c.Running() {
		if id != lead.ID() && id != 4 {
			victim = id
			break
		}
	}
	if err := lead.RemoveMember(ctx, victim); err != nil {
		t.Fatalf("remove %d: %v", victim, err)
	}
	c.Kill(victim)
	g.waitCount(t, g.count.Load()+20)
	lead = c.Leader()
	if err := lead.RemoveMember(ctx, lead.ID()); err != nil {
		t.Fatalf("leader removing itself: %v", err)
	}
	removedLeader := lead.ID()
	WaitFor(t, "a new leader after the leader removed itself", 15*time.Second, func() bool {
		for _, id := range c.Running() {
			if n := c.Node(id); id != removedLeader && n.IsLeader() {
				return true
			}
		}
		return false
	})
	c.Kill(removedLeader)
	g.waitCount(t, g.count.Load()+20)
	g.verify(t)

	st := c.Leader().Status()
	if len(st.Members) != 2 {
		t.Fatalf("members after two removals = %+v, want 2", st.Members)
	}
	err := c.Leader().AddVoter(ctx, c.Net.Peer(victim))
	if !errors.Is(err, raftcore.ErrIDReused) {
		t.Fatalf("re-adding removed id %d = %v, want ErrIDReused", victim, err)
	}
	if err := c.Leader().AddVoter(ctx, c.Net.Peer(4)); !errors.Is(err, raftcore.ErrMemberExists) {
		t.Fatalf("adding an existing member = %v, want ErrMemberExists", err)
	}
	if err := c.Leader().RemoveMember(ctx, 99); !errors.Is(err, raftcore.ErrUnknownMember) {
		t.Fatalf("removing an unknown member = %v, want ErrUnknownMember", err)
	}
}

func testTransfer(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	lead := c.Leader()
	put(t, lead, "t", "1")
	target := c.Follower().ID()
	events := lead.Subscribe(Context(t, 20*time.Second))
	if err := transferTo(t, c, target); err != nil {
		t.Fatalf("transfer to %d: %v", target, err)
	}
	if got := c.Leader().ID(); got != target {
		t.Fatalf("leader = %d, want %d", got, target)
	}
	put(t, c.Node(target), "t", "2")
	sawElection := false
	for !sawElection {
		select {
		case ev := <-events:
			sawElection = ev.Type == raftcore.EventLeaderElected && ev.Leader == target
		case <-time.After(5 * time.Second):
			t.Fatal("no LeaderElected event for the transferee")
		}
	}
	// A follower names the leader instead of relaying the request (raft's
	// relay names the transferee as sender, which authenticating
	// transports drop); the leader hands it back.
	var notLeader *raftcore.NotLeaderError
	if err := c.Node(lead.ID()).TransferLeadership(Context(t, 10*time.Second), lead.ID()); !errors.As(err, &notLeader) || notLeader.LeaderID != target {
		t.Fatalf("transfer asked of a follower = %v, want a *NotLeaderError naming %d", err, target)
	}
	if err := transferTo(t, c, lead.ID()); err != nil {
		t.Fatalf("transfer back: %v", err)
	}
	if err := lead.TransferLeadership(Context(t, 10*time.Second), 42); !errors.Is(err, raftcore.ErrUnknownMember) {
		t.Fatalf("transfer to a non-member = %v, want ErrUnknownMember", err)
	}
}

// transferTo asks the leader to hand leadership to target. On a lossy
// network raft may abandon a transfer (ErrTransferFailed, the documented
// outcome, when the transferee does not take over within an election
// timeout): it asks again, of whoever leads then, a few times.
func transferTo[C, R any](t *testing.T, c *Cluster[C, R], target uint64) error {
	t.Helper()
	var err error
	for range 5 {
		if err = c.Leader().TransferLeadership(Context(t, 10*time.Second), target); !errors.Is(err, raftcore.ErrTransferFailed) {
			return err
		}
	}
	return err
}

func testSnapshotCatchUp(t *testing.T, opts Options) {
	o := opts
	o.Configure = func(cfg *raftcore.Config) {
		if opts.Configure != nil {
			opts.Configure(cfg)
		}
		cfg.MaxLogEntries = 40
		cfg.TrailingLogEntries = 5
	}
	c := newKV(t, o, 3)
	lead := c.Leader()
	var last uint64
	for i := range 150 {
		last = put(t, lead, fmt.Sprintf("s%d", i), fmt.Sprintf("%d", i)).Index
	}
	c.WaitApplied(last)
	st := lead.Status()
	if st.SnapshotIndex == 0 {
		t.Fatalf("no automatic snapshot after %d entries: %+v", last, st)
	}
	if _, err := lead.Snapshot(Context(t, 10*time.Second)); err != nil {
		t.Fatalf("manual snapshot: %v", err)
	}
	n4 := c.Start(4, true)
	events := n4.Subscribe(Context(t, 30*time.Second))
	if err := lead.AddLearner(Context(t, 10*time.Second), c.Net.Peer(4)); err != nil {
		t.Fatalf("add learner: %v", err)
	}
	installed := false
	for !installed {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			installed = ev.Type == raftcore.EventSnapshotInstalled
		case <-time.After(15 * time.Second):
			t.Fatal("learner did not install a snapshot")
		}
	}
	final := put(t, lead, "after", "snap")
	c.WaitApplied(final.Index)
	for i := range 150 {
		if v, _ := get(n4, fmt.Sprintf("s%d", i)); v != fmt.Sprintf("%d", i) {
			t.Fatalf("learner: s%d = %q", i, v)
		}
	}
	if v, _ := get(n4, "after"); v != "snap" {
		t.Fatalf("learner did not resume replication after the snapshot")
	}
	if st := n4.Status(); st.Role != raftcore.RoleLearner {
		t.Fatalf("node 4 role = %v, want learner", st.Role)
	}
	// A restarted learner recovers from its own snapshot and log.
	c.Kill(4)
	n4 = c.Start(4, false)
	if v, _ := get(n4, "s149"); v != "149" {
		t.Fatalf("restarted learner lost its snapshot: s149 = %q", v)
	}
}

func testGracefulClose(t *testing.T, opts Options) {
	c := newKV(t, opts, 3)
	lead := c.Leader()
	put(t, lead, "g", "1")
	id := lead.ID()
	c.mu.Lock()
	delete(c.nodes, id)
	c.mu.Unlock()
	if err := lead.Close(Context(t, 10*time.Second)); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The leader handed off before stopping: the others have a leader
	// without waiting for an election timeout.
	newLead := c.Leader()
	if newLead.ID() == id {
		t.Fatal("closed node still leads")
	}
	if _, err := lead.Propose(context.Background(), KVCommand{Op: "put", Key: "g", Value: "2"}); !errors.Is(err, raftcore.ErrStopped) {
		t.Fatalf("propose after close = %v, want ErrStopped", err)
	}
	if err := lead.Read(context.Background(), func() error { return nil }); !errors.Is(err, raftcore.ErrStopped) {
		t.Fatalf("read after close = %v, want ErrStopped", err)
	}
	if err := lead.Close(Context(t, time.Second)); err != nil {
		t.Fatalf("second close: %v", err)
	}
	put(t, newLead, "g", "3")
}

func testBank(t *testing.T, opts Options) {
	const accounts, initial = 10, 1000
	c := NewCluster(t, opts, 3, func() raftcore.StateMachine[Transfer, bool] { return NewBank(accounts, initial) }, JSONCodec[Transfer]{})
	c.Leader()
	transfers := 1000
	if opts.Short {
		transfers = 300
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	work := make(chan Transfer)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for tr := range work {
				for attempt := 0; ; attempt++ {
					ids := c.Running()
					n := c.Node(ids[rng.IntN(len(ids))])
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					_, err := n.Propose(ctx, tr)
					cancel()
					if err == nil || attempt > 50 {
						break
					}
				}
				done.Add(1)
			}
		}()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range transfers {
		if i == transfers/2 {
			lead := c.Leader()
			target := c.Follower().ID()
			go func() { _ = lead.TransferLeadership(context.Background(), target) }()
		}
		from, to := rng.IntN(accounts), rng.IntN(accounts)
		work <- Transfer{From: fmt.Sprintf("acct-%d", from), To: fmt.Sprintf("acct-%d", to), Amount: int64(rng.IntN(200) + 1)}
	}
	close(work)
	wg.Wait()
	lead := c.Leader()
	if err := lead.Read(Context(t, 10*time.Second), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(lead.Status().CommitIndex)
	var reference map[string]int64
	for _, id := range c.Running() {
		n := c.Node(id)
		_ = n.ReadStale(func() error {
			b := n.SM.(*Bank)
			if b.Total() != accounts*initial {
				t.Fatalf("node %d: total %d, want %d", id, b.Total(), accounts*initial)
			}
			if reference == nil {
				reference = map[string]int64{}
				for k, v := range b.Balances {
					reference[k] = v
				}
			}
			for k, v := range reference {
				if b.Balances[k] != v {
					t.Fatalf("node %d diverged: %s=%d, node %d has %d", id, k, b.Balances[k], c.Running()[0], v)
				}
			}
			return nil
		})
	}
}
