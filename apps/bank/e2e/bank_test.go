package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// The bank test, after Jepsen's: clients transfer money between a few
// accounts concurrently, retrying a transfer whose outcome they did not
// learn (with its Idempotency-Key), while nemeses kill nodes with SIGKILL,
// freeze them with SIGSTOP, move leadership and change the membership.
// Checked:
//   - every read of all balances sums to the initial total;
//   - no transfer applied twice: a ledger client moves 1 at a time from
//     one account to another, retrying every transfer until it has an
//     answer (its first attempts with timeouts short enough to leave many
//     outcomes open); the receiving account must end up holding exactly
//     the number of transfers made;
//   - the history of transfers and reads is linearizable (porcupine).

// Accounts of the test.
var (
	accounts    = []string{"a0", "a1", "a2", "a3", "a4"}
	initial     = int64(100)
	ledgerFrom  = "ledger-from"
	ledgerTo    = "ledger-to"
	ledgerStart = int64(1_000_000)
	total       = initial*int64(len(accounts)) + ledgerStart
)

// bankInput is one operation of the history: a transfer or a read of all
// balances.
type bankInput struct {
	read     bool
	from, to string
	amount   int64
}

type bankOutput struct {
	unknown      bool
	insufficient bool
	balances     map[string]int64 // a read's
}

var bankModel = porcupine.Model{
	Init: func() any {
		s := map[string]int64{ledgerFrom: ledgerStart, ledgerTo: 0}
		for _, a := range accounts {
			s[a] = initial
		}
		return s
	},
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(map[string]int64), input.(bankInput), output.(bankOutput)
		if in.read {
			return maps.Equal(s, out.balances), s
		}
		enough := s[in.from] >= in.amount
		if !out.unknown && out.insufficient == enough {
			return false, s
		}
		if !enough {
			return true, s
		}
		next := maps.Clone(s)
		next[in.from] -= in.amount
		next[in.to] += in.amount
		return true, next
	},
	Equal: func(a, b any) bool { return maps.Equal(a.(map[string]int64), b.(map[string]int64)) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(bankInput), output.(bankOutput)
		if in.read {
			return fmt.Sprintf("read -> %v", out.balances)
		}
		res := "ok"
		switch {
		case out.unknown:
			res = "unknown"
		case out.insufficient:
			res = "insufficient funds"
		}
		return fmt.Sprintf("transfer(%s -> %s, %d) -> %s", in.from, in.to, in.amount, res)
	},
}

// history records operations with times relative to its start.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// fault is one nemesis step: it runs, and returns what it did.
type fault func(t *testing.T, c *cluster, rng *rand.Rand) string

// run configures one bank test.
type run struct {
	store    string
	duration time.Duration // of the workload, faults included
	faults   []fault       // run in turn, round and round, while the workload runs
	// keys: writes carry an Idempotency-Key (client sessions). Without,
	// the clients retry all the same: the broken variant.
	keys bool
	// ledgerOnly runs only the ledger client, until it was caught applying
	// a transfer twice or ran ledgerMax transfers.
	ledgerOnly bool
	ledgerMax  int
	// vizDir receives the porcupine visualisation of a history that is not
	// linearizable. The default is os.TempDir().
	vizDir string
}

// report is what a run found.
type report struct {
	transfers, reads, ledger, unknown atomic.Int64
	// ledgerOpen counts the ledger's attempts left without an answer (and
	// sent again).
	ledgerOpen atomic.Int64
	faults     []string
	violations []string
	mu         sync.Mutex
}

func (r *report) violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.violations) < 20 {
		r.violations = append(r.violations, fmt.Sprintf(format, args...))
	}
}

func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("BANK_SEED"); v != "" {
		fmt.Sscan(v, &s)
	}
	t.Logf("seed %d (BANK_SEED=%d replays the same choices)", s, s)
	return s
}

// runBank starts a 3-node cluster, opens the accounts and runs the
// workload and the faults; it returns what the checks found.
func runBank(t *testing.T, cfg run) *report {
	rng := rand.New(rand.NewPCG(seed(t), 19))
	c := newCluster(t, 3, cfg.store)
	c.leader(30 * time.Second)
	setup, err := bank.NewClient(bank.ClientConfig{Endpoints: c.endpoints(), HTTPClient: c.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	ctx := clustertest.Context(t, 60*time.Second)
	opening := map[string]int64{ledgerFrom: ledgerStart, ledgerTo: 0}
	for _, a := range accounts {
		opening[a] = initial
	}
	for _, id := range slices.Sorted(maps.Keys(opening)) {
		if _, err := setup.CreateAccount(ctx, id, opening[id], bank.NewIdempotencyKey()); err != nil {
			t.Fatalf("open %s: %v", id, err)
		}
	}
	rep := &report{}
	h := &history{start: time.Now()}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	eps := c.endpoints()
	clientFor := func(i int, timeout time.Duration) *bank.Client {
		rotated := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		hc := &http.Client{Transport: c.HTTP.Transport, Timeout: timeout}
		cl, err := bank.NewClient(bank.ClientConfig{Endpoints: rotated, HTTPClient: hc, RetryPause: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// Ledger: 1 at a time, every transfer retried until it has an answer,
	// with attempt timeouts growing from 250µs to 2s. A write waits for two
	// fsyncs and a round trip, so nearly every first attempt is left open,
	// however fast and quiet the machine (from 2ms, a quiet machine
	// answered all 300 first attempts in time, and no retry was ever sent).
	ledgerDone := make(chan struct{})
	wg.Go(func() {
		defer close(ledgerDone)
		cl := clientFor(0, 0)
		for !stopped() && (cfg.ledgerMax == 0 || int(rep.ledger.Load()) < cfg.ledgerMax) {
			key := ""
			if cfg.keys {
				key = bank.NewIdempotencyKey()
			}
			call := h.now()
			for attempt := 0; ; attempt++ {
				timeout := min(250*time.Microsecond<<attempt, 2*time.Second)
				actx, cancel := context.WithTimeout(context.Background(), timeout)
				_, err := cl.Transfer(actx, ledgerFrom, ledgerTo, 1, key)
				cancel()
				if err == nil {
					break
				}
				rep.ledgerOpen.Add(1)
				if !bank.Retryable(err) && !errors.Is(err, context.DeadlineExceeded) {
					rep.violation("ledger transfer failed: %v", err)
					return
				}
				if attempt > 200 {
					rep.violation("ledger transfer without an answer after %d attempts: %v", attempt, err)
					return
				}
			}
			rep.ledger.Add(1)
			h.add(porcupine.Operation{ClientId: 100, Input: bankInput{from: ledgerFrom, to: ledgerTo, amount: 1}, Call: call, Output: bankOutput{}, Return: h.now()})
			if cfg.ledgerOnly && !cfg.keys && rep.ledger.Load()%10 == 0 {
				if got := ledgerBalance(t, setup); got > rep.ledger.Load() {
					return // caught: checked below
				}
			}
		}
	})
	if !cfg.ledgerOnly {
		for i := range 3 {
			cl := clientFor(i, 2*time.Second)
			wg.Go(func() {
				for !stopped() {
					from, to := pick(rng, &c.mu, accounts), pick(rng, &c.mu, accounts)
					if from == to {
						continue
					}
					amount := 1 + int64(randN(rng, &c.mu, 40))
					in := bankInput{from: from, to: to, amount: amount}
					call := h.now()
					out := transfer(cl, in, cfg.keys)
					ret := h.now()
					if out.unknown {
						rep.unknown.Add(1)
						ret = math.MaxInt64
					}
					rep.transfers.Add(1)
					h.add(porcupine.Operation{ClientId: i, Input: in, Call: call, Output: out, Return: ret})
				}
			})
		}
		cl := clientFor(3, 2*time.Second)
		wg.Go(func() {
			for !stopped() {
				call := h.now()
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				all, err := cl.Accounts(rctx)
				cancel()
				if err != nil {
					continue // observed nothing
				}
				rep.reads.Add(1)
				if all.Total != total {
					rep.violation("read at index %d sums to %d, not %d: %v", all.Index, all.Total, total, all.Accounts)
				}
				var sum int64
				for _, b := range all.Accounts {
					sum += b
				}
				if sum != all.Total {
					rep.violation("read at index %d reports total %d, its balances sum to %d", all.Index, all.Total, sum)
				}
				h.add(porcupine.Operation{ClientId: 3, Input: bankInput{read: true}, Call: call, Output: bankOutput{balances: all.Accounts}, Return: h.now()})
				select {
				case <-stop:
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	// The nemesis runs the faults in turn until the duration is over.
	deadline := time.Now().Add(cfg.duration)
	for i := 0; time.Now().Before(deadline) && len(cfg.faults) > 0; i++ {
		rep.faults = append(rep.faults, cfg.faults[i%len(cfg.faults)](t, c, rng))
		select {
		case <-ledgerDone:
		case <-time.After(500 * time.Millisecond):
		}
	}
	select {
	case <-ledgerDone:
	case <-time.After(time.Until(deadline)):
	}
	close(stop)
	wg.Wait()
	for _, nd := range c.Nodes() {
		c.Signal(nd.ID, syscall.SIGCONT)
	}

	// The final read: every balance, after every client stopped.
	finalCtx, cancelFinal := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFinal()
	final, err := setup.Accounts(finalCtx)
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	if final.Total != total {
		rep.violation("final read sums to %d, not %d", final.Total, total)
	}
	if got, want := final.Accounts[ledgerTo], rep.ledger.Load(); got != want {
		rep.violation("transfer applied twice: %s holds %d after %d ledger transfers of 1, each answered once", ledgerTo, got, want)
	}
	h.add(porcupine.Operation{ClientId: 99, Input: bankInput{read: true}, Call: h.now(), Output: bankOutput{balances: final.Accounts}, Return: h.now()})
	checkFor := max(time.Minute, cfg.duration)
	res, info := porcupine.CheckOperationsVerbose(bankModel, h.ops, checkFor)
	switch res {
	case porcupine.Illegal:
		dir := cfg.vizDir
		if dir == "" {
			dir = os.TempDir()
		}
		path := fmt.Sprintf("%s/bank-%s.html", dir, strings.ReplaceAll(t.Name(), "/", "-"))
		if f, err := os.Create(path); err == nil {
			_ = porcupine.Visualize(bankModel, info, f)
			f.Close()
		}
		rep.violation("history of %d operations is not linearizable (visualisation: %s)", len(h.ops), path)
	case porcupine.Unknown:
		rep.violation("linearizability check of %d operations did not finish in %v", len(h.ops), checkFor)
	}
	t.Logf("%s: %d transfers (%d with unknown outcome), %d ledger transfers (%d attempts left open and sent again), %d reads of all balances, final index %d; faults: %s; violations: %d",
		cfg.store, rep.transfers.Load(), rep.unknown.Load(), rep.ledger.Load(), rep.ledgerOpen.Load(), rep.reads.Load(), final.Index, strings.Join(rep.faults, "; "), len(rep.violations))
	return rep
}

// transfer makes one transfer of the workload: with a key, the client
// retries until it has an answer (or 30s pass); without, the test retries
// it itself after an open outcome, as a client without sessions would.
func transfer(cl *bank.Client, in bankInput, keys bool) bankOutput {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := ""
	if keys {
		key = bank.NewIdempotencyKey()
	}
	for {
		_, err := cl.Transfer(ctx, in.from, in.to, in.amount, key)
		switch {
		case err == nil:
			return bankOutput{}
		case errors.Is(err, bank.ErrInsufficientFunds):
			return bankOutput{insufficient: true}
		case keys || ctx.Err() != nil || !bank.Retryable(err):
			return bankOutput{unknown: true}
		}
	}
}

func ledgerBalance(t *testing.T, cl *bank.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acc, err := cl.Account(ctx, ledgerTo)
	if err != nil {
		return 0
	}
	return acc.Balance
}

// pick and randN draw from rng under mu: the workers share it.
func pick(rng *rand.Rand, mu *sync.Mutex, xs []string) string {
	return xs[randN(rng, mu, len(xs))]
}

func randN(rng *rand.Rand, mu *sync.Mutex, n int) int {
	mu.Lock()
	defer mu.Unlock()
	return rng.IntN(n)
}

// Faults.

func pauseNode(leader bool) fault {
	return func(t *testing.T, c *cluster, rng *rand.Rand) string {
		id := c.leader(30 * time.Second)
		if !leader {
			id = otherThan(c, rng, id)
		}
		c.Signal(id, syscall.SIGSTOP)
		time.Sleep(1500 * time.Millisecond) // the fault's length, not a synchronisation
		c.Signal(id, syscall.SIGCONT)
		return fmt.Sprintf("SIGSTOP node %d (leader: %v) for 1.5s", id, leader)
	}
}

func killNode(leader bool) fault {
	return func(t *testing.T, c *cluster, rng *rand.Rand) string {
		id := c.leader(30 * time.Second)
		if !leader {
			id = otherThan(c, rng, id)
		}
		c.Kill(id)
		time.Sleep(500 * time.Millisecond) // the fault's length
		c.Start(id)
		return fmt.Sprintf("kill -9 node %d (leader: %v), restarted", id, leader)
	}
}

// partitionNode cuts a node off from every other node, at the packet level
// inside its QUIC socket (the node's --fault-control file), for 2s, then
// heals it. Cutting off the leader must cost it its leadership: the term
// moves on, which shows the partition took effect.
func partitionNode(leader bool) fault {
	return func(t *testing.T, c *cluster, rng *rand.Rand) string {
		id := c.leader(30 * time.Second)
		if !leader {
			id = otherThan(c, rng, id)
		}
		before := termOf(c, id)
		faults := faultsFile(c.Cluster, id)
		var others []string
		for _, nd := range c.Nodes() {
			if nd.ID != id {
				others = append(others, nd.RaftAddr)
			}
		}
		if err := os.WriteFile(faults, []byte("partition "+strings.Join(others, " ")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the fault's length
		if err := os.WriteFile(faults, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if leader {
			clustertest.WaitFor(t, fmt.Sprintf("a new term after partitioning leader %d", id), 30*time.Second, func() bool {
				return termOf(c, id) > before
			})
		}
		return fmt.Sprintf("partition node %d (leader: %v) from the others for 2s", id, leader)
	}
}

// termOf is node id's term, or 0 when it does not answer.
func termOf(c *cluster, id uint64) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.Node(id).Client.Status(ctx)
	if err != nil {
		return 0
	}
	return st.Term
}

func transferLeadership(t *testing.T, c *cluster, rng *rand.Rand) string {
	from := c.leader(30 * time.Second)
	to := otherThan(c, rng, from)
	if out, err := c.ctl("leader", "transfer", fmt.Sprint(to)); err != nil {
		// raft may abandon a transfer on a busy cluster; the fault happened.
		return fmt.Sprintf("leader transfer %d -> %d refused: %v %s", from, to, err, out)
	}
	return fmt.Sprintf("leader transfer %d -> %d", from, to)
}

// addAndRemoveMember adds node 4 (started empty with --join) as a learner,
// promotes it, then removes and stops it: two membership changes.
func addAndRemoveMember(t *testing.T, c *cluster, rng *rand.Rand) string {
	id := uint64(len(c.Nodes()) + 1)
	nd := c.AddNode(c.Dir, id)
	c.Start(id, "--join")
	if _, err := c.ctl("member", "add", fmt.Sprint(id), nd.RaftAddr, "--learner"); err != nil {
		t.Errorf("member add %d: %v", id, err)
		return "member add failed"
	}
	clustertest.WaitFor(t, fmt.Sprintf("node %d to apply the accounts", id), 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := nd.Client.Status(ctx)
		return err == nil && st.AppliedIndex > 7
	})
	if _, err := c.ctl("member", "promote", fmt.Sprint(id)); err != nil {
		t.Errorf("member promote %d: %v", id, err)
	}
	if _, err := c.ctl("member", "remove", fmt.Sprint(id)); err != nil {
		t.Errorf("member remove %d: %v", id, err)
	}
	c.Signal(id, syscall.SIGTERM)
	return fmt.Sprintf("node %d added as a learner, promoted, removed", id)
}

func otherThan(c *cluster, rng *rand.Rand, id uint64) uint64 {
	for {
		other := uint64(1 + randN(rng, &c.mu, 3))
		if other != id {
			return other
		}
	}
}

// soak is how long each store's run lasts under make soak (BANK_SOAK set
// to a duration); the short run of make test otherwise.
func soak(short time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BANK_SOAK")); err == nil && d > 0 {
		return d
	}
	return short
}

// TestBankConservesMoneyAndAppliesEachTransferOnce is the bank test, with
// every fault, on each durable store.
func TestBankConservesMoneyAndAppliesEachTransferOnce(t *testing.T) {
	for _, tt := range []struct {
		store  string
		short  time.Duration
		faults []fault
	}{
		{"pebble", 14 * time.Second, []fault{pauseNode(false), partitionNode(true), killNode(true), transferLeadership, addAndRemoveMember, pauseNode(true), partitionNode(false), killNode(false)}},
		{"badger", 10 * time.Second, []fault{killNode(false), partitionNode(true), pauseNode(true), transferLeadership}},
		{"wal", 10 * time.Second, []fault{killNode(true), pauseNode(false), addAndRemoveMember, partitionNode(false), killNode(false)}},
	} {
		t.Run(tt.store, func(t *testing.T) {
			rep := runBank(t, run{store: tt.store, duration: soak(tt.short), faults: tt.faults, keys: true})
			for _, v := range rep.violations {
				t.Error(v)
			}
			if rep.transfers.Load() == 0 || rep.reads.Load() == 0 || rep.ledger.Load() == 0 {
				t.Errorf("the workload did not run: %d transfers, %d reads, %d ledger transfers", rep.transfers.Load(), rep.reads.Load(), rep.ledger.Load())
			}
		})
	}
}

// TestBankCatchesTransfersAppliedTwice runs the broken variant, clients
// that retry without sessions (no Idempotency-Key), and shows that the
// bank test's checks report it.
func TestBankCatchesTransfersAppliedTwice(t *testing.T) {
	rep := runBank(t, run{store: "pebble", duration: soak(20 * time.Second), keys: false, ledgerOnly: true, ledgerMax: 300, vizDir: t.TempDir()})
	caught := slices.ContainsFunc(rep.violations, func(v string) bool { return strings.HasPrefix(v, "transfer applied twice") })
	if !caught {
		t.Fatalf("retries without sessions went unnoticed after %d ledger transfers; violations: %q", rep.ledger.Load(), rep.violations)
	}
	t.Logf("caught: %q", rep.violations)
}
