package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

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

// TestConcurrentHistoryIsLinearizable runs concurrent clients doing gets
// and puts on a few keys through every node while leaders are killed with
// SIGKILL and restarted, and checks the history with porcupine. A put
// whose outcome is unknown (an error other than a refusal) may take effect
// at any time after it was sent, so it is recorded as never returning; a
// get that failed observed nothing and is left out.
func TestConcurrentHistoryIsLinearizable(t *testing.T) {
	seed := testseed.Get(t)
	for _, store := range []string{"pebble", "wal"} {
		t.Run(store, func(t *testing.T) { testHistoryIsLinearizable(t, store, seed) })
	}
}

func testHistoryIsLinearizable(t *testing.T, store string, seed uint64) {
	c := newCluster(t, 3, store)
	c.WaitLeader(20 * time.Second)
	h := &history{start: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const clients = 5
	keys := []string{"x", "y", "z"}
	for id := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(id)))
		wg.Go(func() { runClient(t, c, h, id, rng, keys, stop) })
	}

	// Two rounds of: let the clients run, kill the leader, let them run
	// without it, restart it.
	for round := range 2 {
		runFor(700 * time.Millisecond)
		leader := c.WaitLeader(20 * time.Second)
		t.Logf("round %d: killing leader %d", round, leader)
		c.Kill(leader)
		runFor(700 * time.Millisecond)
		c.Start(leader)
	}
	runFor(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	ops := h.ops
	var puts, gets, unknown int
	for _, op := range ops {
		switch {
		case op.Return == math.MaxInt64:
			unknown++
		case op.Input.(kvtest.Input).Put:
			puts++
		default:
			gets++
		}
	}
	t.Logf("history: %d gets, %d puts acknowledged, %d puts with unknown outcome", gets, puts, unknown)
	if gets < 50 || puts < 20 {
		t.Fatalf("history too small to mean anything: %d gets, %d puts", gets, puts)
	}
	res, info := porcupine.CheckOperationsVerbose(kvtest.Model, ops, time.Minute)
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		if f, err := os.CreateTemp("", "kvstore-history-*.html"); err == nil {
			if porcupine.Visualize(kvtest.Model, info, f) == nil {
				t.Logf("history visualized in %s", f.Name())
			}
			f.Close()
		}
		t.Fatalf("history of %d operations is not linearizable (seed %d)", len(ops), seed)
	default:
		t.Fatalf("linearizability check did not finish (seed %d)", seed)
	}
}

// runFor lets the workload run for d: this is the experiment's schedule,
// not a synchronisation.
func runFor(d time.Duration) { time.Sleep(d) }

func runClient(t *testing.T, c *cluster, h *history, id int, rng *rand.Rand, keys []string, stop chan struct{}) {
	clientsByNode := make([]*kvstore.Client, len(c.Nodes()))
	for i, nd := range c.Nodes() {
		cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{nd.HTTPAddr}, HTTPClient: c.HTTP})
		if err != nil {
			t.Error(err)
			return
		}
		clientsByNode[i] = cl
	}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		cl := clientsByNode[rng.IntN(len(clientsByNode))]
		key := keys[rng.IntN(len(keys))]
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		call := h.now()
		if rng.IntN(100) < 40 {
			value := fmt.Sprintf("c%d-%d", id, seq)
			_, err := cl.Put(ctx, key, []byte(value), kvstore.WriteOptions{})
			ret := h.now()
			switch {
			case err == nil:
			case refusedBeforeProposal(err):
				ret = -1 // refused: it never happened
			default:
				ret = math.MaxInt64 // unknown: it may still take effect
			}
			if ret >= 0 {
				h.add(porcupine.Operation{ClientId: id, Input: kvtest.Input{Put: true, Key: key, Value: value}, Call: call, Return: ret})
			}
		} else {
			got, _, err := cl.Get(ctx, key, false)
			ret := h.now()
			switch {
			case err == nil:
				h.add(porcupine.Operation{ClientId: id, Input: kvtest.Input{Key: key}, Output: kvtest.Output{Found: true, Value: string(got)}, Call: call, Return: ret})
			case isNotFound(err):
				h.add(porcupine.Operation{ClientId: id, Input: kvtest.Input{Key: key}, Output: kvtest.Output{}, Call: call, Return: ret})
			}
		}
		cancel()
		if ctx.Err() != nil {
			// Back off briefly after a timeout; the cluster is electing.
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func isNotFound(err error) bool {
	apiErr, ok := err.(*kvstore.APIError)
	return ok && apiErr.Status == http.StatusNotFound
}

// refusedBeforeProposal reports whether a put certainly did not happen: the
// server refused it with 503 because it knew no leader. Other 503s (node
// stopping) and connection errors leave the outcome unknown.
func refusedBeforeProposal(err error) bool {
	apiErr, ok := err.(*kvstore.APIError)
	return ok && apiErr.Status == http.StatusServiceUnavailable && strings.HasPrefix(apiErr.Message, "no leader")
}
