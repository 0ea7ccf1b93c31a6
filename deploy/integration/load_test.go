package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
)

// load is a steady client workload on the cluster's HTTP API: writers put
// unique values to keys of their own, paced to a total rate, and readers
// get any writer's keys linearizably. Every operation retries (on the next
// endpoint) whatever fails (503, a connection error, a timeout) until its
// deadline; only an operation still failing then counts as failed. Since a
// key has one writer, which waits for each put, a put applied twice by a
// retry cannot be told from one applied once, and the history stays
// checkable.
type load struct {
	endpoints []string
	http      *http.Client
	deadline  time.Duration
	start     time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation
	writes  []writeSample
	failed  []string
	stopped chan struct{}
	wg      sync.WaitGroup
	acked   atomic.Int64
}

// writeSample is one acknowledged write: when it was called, how long it
// took (retries included).
type writeSample struct {
	at      time.Time
	latency time.Duration
}

func startLoad(t *testing.T, endpoints []string, writesPerSecond, writers, readers int, seed uint64) *load {
	l := &load{
		endpoints: endpoints,
		http:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		deadline:  10 * time.Second,
		start:     time.Now(),
		stopped:   make(chan struct{}),
	}
	interval := time.Duration(float64(time.Second) * float64(writers) / float64(writesPerSecond))
	for w := range writers {
		l.wg.Go(func() { l.writer(w, interval) })
	}
	for r := range readers {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		l.wg.Go(func() { l.reader(writers+r, writers, rng) })
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) now() int64 { return time.Since(l.start).Nanoseconds() }

func (l *load) stop() {
	select {
	case <-l.stopped:
		return
	default:
	}
	close(l.stopped)
	l.wg.Wait()
	l.http.CloseIdleConnections()
}

func (l *load) done() bool {
	select {
	case <-l.stopped:
		return true
	default:
		return false
	}
}

const keysPerWriter = 2

func writerKey(w, i int) string { return fmt.Sprintf("w%02d-k%d", w, i) }

func (l *load) writer(w int, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	endpoint := w % len(l.endpoints)
	for seq := 0; ; seq++ {
		select {
		case <-l.stopped:
			return
		case <-ticker.C:
		}
		key := writerKey(w, seq%keysPerWriter)
		value := fmt.Sprintf("w%02d-%06d", w, seq)
		began := time.Now()
		call := l.now()
		err := l.retry(&endpoint, func(ctx context.Context, ep string) error { return l.put(ctx, ep, key, value) })
		ret := l.now()
		l.mu.Lock()
		if err != nil {
			l.failed = append(l.failed, fmt.Sprintf("put %s=%s: %v", key, value, err))
			ret = math.MaxInt64 // its outcome is unknown
		} else {
			l.writes = append(l.writes, writeSample{at: began, latency: time.Since(began)})
			l.acked.Add(1)
		}
		l.ops = append(l.ops, porcupine.Operation{ClientId: w, Input: kvtest.Input{Put: true, Key: key, Value: value}, Call: call, Return: ret})
		l.mu.Unlock()
		if err != nil && l.done() {
			return
		}
	}
}

func (l *load) reader(client, writers int, rng *rand.Rand) {
	endpoint := client % len(l.endpoints)
	for {
		select {
		case <-l.stopped:
			return
		case <-time.After(20 * time.Millisecond):
		}
		key := writerKey(rng.IntN(writers), rng.IntN(keysPerWriter))
		var out kvtest.Output
		call := l.now()
		err := l.retry(&endpoint, func(ctx context.Context, ep string) (err error) {
			out, err = l.get(ctx, ep, key)
			return err
		})
		ret := l.now()
		l.mu.Lock()
		if err != nil {
			l.failed = append(l.failed, fmt.Sprintf("get %s: %v", key, err))
		} else {
			l.ops = append(l.ops, porcupine.Operation{ClientId: client, Input: kvtest.Input{Key: key}, Output: out, Call: call, Return: ret})
		}
		l.mu.Unlock()
	}
}

// retry runs op on *endpoint, moving to the next endpoint after each
// failure, until it succeeds or the operation's deadline passes. The load
// stopping does not cut an operation short.
func (l *load) retry(endpoint *int, op func(ctx context.Context, ep string) error) error {
	deadline := time.Now().Add(l.deadline)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), min(2*time.Second, time.Until(deadline)))
		err = op(ctx, l.endpoints[*endpoint])
		cancel()
		if err == nil {
			return nil
		}
		*endpoint = (*endpoint + 1) % len(l.endpoints)
		time.Sleep(5 * time.Millisecond) // back-off between attempts, not a synchronisation
	}
	return err
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, strings.TrimSpace(e.body)) }

func (l *load) put(ctx context.Context, ep, key, value string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+ep+"/v1/kv/"+key, strings.NewReader(value))
	if err != nil {
		return err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &apiError{resp.StatusCode, string(body)}
	}
	return nil
}

func (l *load) get(ctx context.Context, ep, key string) (kvtest.Output, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep+"/v1/kv/"+key, nil)
	if err != nil {
		return kvtest.Output{}, err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return kvtest.Output{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return kvtest.Output{Found: true, Value: string(body)}, nil
	case http.StatusNotFound:
		var e struct {
			Code string `json:"code"`
		}
		if json.NewDecoder(bytes.NewReader(body)).Decode(&e) == nil && e.Code == "not_found" {
			return kvtest.Output{}, nil
		}
	}
	return kvtest.Output{}, &apiError{resp.StatusCode, string(body)}
}

// p99 returns the 99th percentile of the latencies of writes called
// between from and to, and how many there were.
func (l *load) p99(from, to time.Time) (time.Duration, int) {
	l.mu.Lock()
	var lat []time.Duration
	for _, w := range l.writes {
		if !w.at.Before(from) && w.at.Before(to) {
			lat = append(lat, w.latency)
		}
	}
	l.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[(len(lat)*99)/100], len(lat)
}

// rate returns the acknowledged writes per second called between from and
// to.
func (l *load) rate(from, to time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.writes {
		if !w.at.Before(from) && w.at.Before(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

func (l *load) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failed)
}

// checkLinearizable checks the history with porcupine.
func (l *load) checkLinearizable(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	ops := slices.Clone(l.ops)
	l.mu.Unlock()
	puts, gets := 0, 0
	for _, op := range ops {
		if op.Input.(kvtest.Input).Put {
			puts++
		} else {
			gets++
		}
	}
	if puts < 100 || gets < 50 {
		t.Fatalf("history too small to mean anything: %d puts, %d gets", puts, gets)
	}
	res, _ := porcupine.CheckOperationsVerbose(kvtest.Model, ops, 2*time.Minute)
	switch res {
	case porcupine.Ok:
		t.Logf("history of %d puts and %d gets is linearizable", puts, gets)
	case porcupine.Illegal:
		t.Fatalf("history of %d operations is not linearizable", len(ops))
	default:
		t.Fatalf("linearizability check of %d operations did not finish", len(ops))
	}
}
