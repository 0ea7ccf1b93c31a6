package kvstore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestKeyedCommandsRoundTripAndOldEntriesStillDecode(t *testing.T) {
	keyed := Command{Op: OpPut, Key: "k", Value: []byte("v"), Conditional: true, IfVersion: 3, IdempotencyKey: "idem-1", Time: 1234}
	b, err := CommandCodec{}.Encode(keyed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CommandCodec{}.Decode(b)
	if err != nil || got.IdempotencyKey != "idem-1" || got.Time != 1234 || got.IfVersion != 3 || string(got.Value) != "v" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// A command as the previous release wrote it: flags without the key.
	old := []byte{commandFormat, byte(OpPut), 0, 0, 1, 'k', 'v'}
	if got, err := (CommandCodec{}).Decode(old); err != nil || got.Key != "k" || got.IdempotencyKey != "" {
		t.Fatalf("old entry: %+v, %v", got, err)
	}
	for cut := 4; cut < len(b)-3; cut++ {
		if c, err := (CommandCodec{}).Decode(b[:cut]); err == nil && c.IdempotencyKey == "idem-1" && c.Key == "k" && string(c.Value) == "v" {
			t.Fatalf("cut at %d decoded as the whole command", cut)
		}
	}
}

func TestKeyedWriteAppliesOnceAndItsMemoryTravelsInSnapshots(t *testing.T) {
	m := NewMachine()
	put := Command{Op: OpPut, Key: "k", Value: []byte("v1"), Conditional: true, IfVersion: 0, IdempotencyKey: "x", Time: 1}
	first := m.Apply(1, put)
	m.Apply(2, Command{Op: OpPut, Key: "other", Value: []byte("o")})
	retry := m.Apply(3, put)
	if !first.Applied || retry != (Result{Index: 1, Applied: true, Duplicate: true}) {
		t.Fatalf("first %+v, retry %+v; want the retry to get the first result", first, retry)
	}
	if e, _ := m.Get("k"); e.Version != 1 {
		t.Fatalf("k at version %d, want 1", e.Version)
	}
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r := NewMachine()
	if err := r.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if res := r.Apply(4, put); !res.Duplicate || res.Index != 1 {
		t.Fatalf("retry after restore: %+v", res)
	}
	// A snapshot of the previous format (no remembered keys) still restores.
	var v1 bytes.Buffer
	if err := m.snapshotKeys(&v1); err != nil {
		t.Fatal(err)
	}
	old := NewMachine()
	if err := old.Restore(bytes.NewReader(v1.Bytes())); err != nil || old.Len() != 2 {
		t.Fatalf("format 1 snapshot: %d keys, %v", old.Len(), err)
	}
	damaged := bytes.Clone(snap.Bytes())
	damaged[len(snapshotMagicV2)+1] ^= 0xff // inside the session state
	if err := NewMachine().Restore(bytes.NewReader(damaged)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("damaged session state: %v, want ErrMalformed", err)
	}
}

// TestClientRetriesAWriteWhoseAnswerWasLost loses the answer of the first
// attempt of every write (a 504 after it applied, as when the node's
// request timed out or it was killed after the commit): the client sends
// it again with the same key and gets the first result. A conditional
// create retried this way succeeds instead of failing with 412, and no
// write applies twice.
func TestClientRetriesAWriteWhoseAnswerWasLost(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{})
	c.waitLeader()
	var mu sync.Mutex
	seen := map[string]bool{}
	lossy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(IdempotencyKeyHeader)
		mu.Lock()
		first := key != "" && !seen[key]
		seen[key] = true
		mu.Unlock()
		if first {
			c.servers[0].Config.Handler.ServeHTTP(httptest.NewRecorder(), r)
			writeError(w, http.StatusGatewayTimeout, CodeTimeout, "timed out; the write may still be applied")
			return
		}
		c.servers[0].Config.Handler.ServeHTTP(w, r)
	}))
	defer lossy.Close()
	cl, err := NewClient(ClientConfig{Endpoints: []string{lossy.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	index, err := cl.Put(ctx, "k", []byte("v"), WriteOptions{Conditional: true, IfVersion: 0})
	if err != nil {
		t.Fatalf("conditional create, answer lost once: %v", err)
	}
	if _, _, err := cl.Delete(ctx, "k", WriteOptions{Conditional: true, IfVersion: index}); err != nil {
		t.Fatalf("conditional delete, answer lost once: %v", err)
	}
	var applied int
	if err := c.nodes[0].Read(ctx, func() error { applied = c.machines[0].Len(); return nil }); err != nil {
		t.Fatal(err)
	}
	if applied != 0 {
		t.Fatalf("%d keys left; want 0 (the create and the delete each applied once)", applied)
	}
}
