package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// kvInput is one operation of the history: a linearizable get or a put.
type kvInput struct {
	put   bool
	key   string
	value string
}

// kvOutput is what a get returned; puts have none.
type kvOutput struct {
	found bool
	value string
}

// kvModel is a register per key; the history is partitioned by key.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvOutput{} }, // absent
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, kvOutput{found: true, value: in.value}
		}
		return output.(kvOutput) == state.(kvOutput), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		out := output.(kvOutput)
		if !out.found {
			return fmt.Sprintf("get(%s) -> absent", in.key)
		}
		return fmt.Sprintf("get(%s) -> %s", in.key, out.value)
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

// TestConcurrentHistoryIsLinearizable runs concurrent clients doing gets
// and puts on a few keys through every node while leaders are killed with
// SIGKILL and restarted, and checks the history with porcupine. A put
// whose outcome is unknown (an error other than a refusal) may take effect
// at any time after it was sent, so it is recorded as never returning; a
// get that failed observed nothing and is left out.
func TestConcurrentHistoryIsLinearizable(t *testing.T) {
	seed := testseed.Get(t)
	c := newCluster(t, 3, "pebble")
	c.waitLeader(20 * time.Second)
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
		leader := c.waitLeader(20 * time.Second)
		t.Logf("round %d: killing leader %d", round, leader)
		c.kill(leader)
		runFor(700 * time.Millisecond)
		c.start(leader)
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
		case op.Input.(kvInput).put:
			puts++
		default:
			gets++
		}
	}
	t.Logf("history: %d gets, %d puts acknowledged, %d puts with unknown outcome", gets, puts, unknown)
	if gets < 50 || puts < 20 {
		t.Fatalf("history too small to mean anything: %d gets, %d puts", gets, puts)
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, time.Minute)
	switch res {
	case porcupine.Ok:
	case porcupine.Illegal:
		if f, err := os.CreateTemp("", "kvstore-history-*.html"); err == nil {
			if porcupine.Visualize(kvModel, info, f) == nil {
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
	clientsByNode := make([]*kvstore.Client, len(c.nodes))
	for i, nd := range c.nodes {
		cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{nd.httpAddr}, HTTPClient: c.http})
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
				h.add(porcupine.Operation{ClientId: id, Input: kvInput{put: true, key: key, value: value}, Call: call, Return: ret})
			}
		} else {
			got, _, err := cl.Get(ctx, key, false)
			ret := h.now()
			switch {
			case err == nil:
				h.add(porcupine.Operation{ClientId: id, Input: kvInput{key: key}, Output: kvOutput{found: true, value: string(got)}, Call: call, Return: ret})
			case isNotFound(err):
				h.add(porcupine.Operation{ClientId: id, Input: kvInput{key: key}, Output: kvOutput{}, Call: call, Return: ret})
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

func TestModelRejectsAStaleRead(t *testing.T) {
	op := func(client int, in kvInput, out kvOutput, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
	}
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write sees it", []porcupine.Operation{
			op(0, kvInput{put: true, key: "x", value: "1"}, kvOutput{}, 0, 10),
			op(1, kvInput{key: "x"}, kvOutput{found: true, value: "1"}, 20, 30),
		}, porcupine.Ok},
		{"read after write misses it", []porcupine.Operation{
			op(0, kvInput{put: true, key: "x", value: "1"}, kvOutput{}, 0, 10),
			op(1, kvInput{key: "x"}, kvOutput{}, 20, 30),
		}, porcupine.Illegal},
		{"read goes back to an older value", []porcupine.Operation{
			op(0, kvInput{put: true, key: "x", value: "1"}, kvOutput{}, 0, 10),
			op(0, kvInput{put: true, key: "x", value: "2"}, kvOutput{}, 20, 30),
			op(1, kvInput{key: "x"}, kvOutput{found: true, value: "2"}, 40, 50),
			op(2, kvInput{key: "x"}, kvOutput{found: true, value: "1"}, 60, 70),
		}, porcupine.Illegal},
		{"a put of unknown outcome may apply late", []porcupine.Operation{
			op(0, kvInput{put: true, key: "x", value: "1"}, kvOutput{}, 0, math.MaxInt64),
			op(1, kvInput{key: "x"}, kvOutput{}, 20, 30),
			op(1, kvInput{key: "x"}, kvOutput{found: true, value: "1"}, 40, 50),
		}, porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(kvModel, tt.ops, 10*time.Second); got != tt.want {
				t.Fatalf("check: %v, want %v", got, tt.want)
			}
		})
	}
}
