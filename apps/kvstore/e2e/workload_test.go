package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// writers puts unique keys through every node and remembers which writes
// were acknowledged, and when.
type writers struct {
	mu    sync.Mutex
	acked map[string]string
	times []ackTime // in acknowledgement order
	stopc chan struct{}
	wg    sync.WaitGroup
}

// ackTime is when an acknowledged write was sent and acknowledged.
type ackTime struct{ sent, acked time.Time }

// startWriters starts n writers; writer i sends to the nodes starting with
// node i, moving on to the next on a connection error or 503.
func startWriters(t testing.TB, c *cluster, n int) *writers {
	w := &writers{acked: map[string]string{}, stopc: make(chan struct{})}
	eps := c.Endpoints()
	for i := range n {
		rotated := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: rotated, HTTPClient: c.HTTP})
		if err != nil {
			t.Fatal(err)
		}
		w.wg.Go(func() { w.run(cl, i) })
	}
	t.Cleanup(w.stop)
	return w
}

func (w *writers) run(cl *kvstore.Client, worker int) {
	for seq := 0; ; seq++ {
		select {
		case <-w.stopc:
			return
		default:
		}
		key := fmt.Sprintf("w%d-%06d", worker, seq)
		value := key + "=value"
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cl.Put(ctx, key, []byte(value), kvstore.WriteOptions{})
		cancel()
		if err != nil {
			// The outcome is unknown; the key is simply not counted.
			select {
			case <-w.stopc:
				return
			case <-time.After(20 * time.Millisecond): // back off while there is no leader
			}
			continue
		}
		w.mu.Lock()
		w.acked[key] = value
		w.times = append(w.times, ackTime{sent: sent, acked: time.Now()})
		w.mu.Unlock()
	}
}

// stop stops the writers and waits for them.
func (w *writers) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	w.wg.Wait()
}

// count returns the number of acknowledged writes.
func (w *writers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.times)
}

// firstAckAfter returns when the first write sent after t was
// acknowledged, if one was.
func (w *writers) firstAckAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.times {
		if at.sent.After(t) {
			return at.acked, true
		}
	}
	return time.Time{}, false
}

// snapshot returns a copy of the acknowledged writes.
func (w *writers) snapshot() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}

// verifyAcked checks that node id holds every acknowledged write: a
// linearizable listing has every key, and reading each gives its value.
func verifyAcked(t testing.TB, c *cluster, id uint64, acked map[string]string, stale bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Node(id).Client
	list, err := cl.List(ctx, "w", kvstore.DefaultMaxListLimit, stale)
	if err != nil {
		t.Fatalf("list on node %d: %v", id, err)
	}
	if list.More {
		t.Fatalf("more than %d keys written; the test cannot list them", kvstore.DefaultMaxListLimit)
	}
	present := map[string]bool{}
	for _, k := range list.Keys {
		present[k.Key] = true
	}
	for k, want := range acked {
		if !present[k] {
			t.Fatalf("node %d lost acknowledged write %q (%d acknowledged, %d listed)", id, k, len(acked), len(list.Keys))
		}
		got, _, err := cl.Get(ctx, k, stale)
		if err != nil || string(got) != want {
			t.Fatalf("node %d: %q = %q, %v; want %q", id, k, got, err, want)
		}
	}
}

// waitAcked waits until at least n writes were acknowledged.
func (w *writers) waitAcked(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	clustertest.WaitFor(t, fmt.Sprintf("%d acknowledged writes", n), timeout, func() bool { return w.count() >= n })
}
