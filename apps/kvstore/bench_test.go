package kvstore

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkMachineApplyPut(b *testing.B) {
	m := NewMachine()
	value := bytes.Repeat([]byte("v"), 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Apply(uint64(i+1), Command{Op: OpPut, Key: fmt.Sprintf("key-%d", i%10000), Value: value})
	}
}

func BenchmarkCommandCodec(b *testing.B) {
	cmd := Command{Op: OpPut, Key: "some/key", Value: bytes.Repeat([]byte("v"), 100)}
	b.ReportAllocs()
	for b.Loop() {
		data, _ := CommandCodec{}.Encode(cmd)
		if _, err := (CommandCodec{}).Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMachineSnapshot10k(b *testing.B) {
	m := NewMachine()
	for i := range 10000 {
		m.Apply(uint64(i+1), Command{Op: OpPut, Key: fmt.Sprintf("key-%05d", i), Value: bytes.Repeat([]byte("v"), 100)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Snapshot(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandler measures requests through the handler of a single-node
// cluster over transport-mem with memory stores: the cost of the API and
// the engine, without sockets or fsync.
func BenchmarkHandler(b *testing.B) {
	c := startMemCluster(b, 1, 1, HandlerConfig{})
	c.waitLeader()
	h, err := NewHandler(HandlerConfig{Node: c.nodes[0], Machine: c.machines[0]})
	if err != nil {
		b.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 100)
	serve := func(method, path string, body []byte, want int) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(body)))
		if rec.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	}
	serve(http.MethodPut, "/v1/kv/bench", value, http.StatusOK)
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(http.MethodPut, "/v1/kv/bench", value, http.StatusOK)
		}
	})
	b.Run("put-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(http.MethodPut, "/v1/kv/bench", value, http.StatusOK)
			}
		})
	})
	b.Run("get-linearizable", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(http.MethodGet, "/v1/kv/bench", nil, http.StatusOK)
		}
	})
	b.Run("get-stale", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(http.MethodGet, "/v1/kv/bench?consistency=stale", nil, http.StatusOK)
		}
	})
}

// BenchmarkList measures a listing of 10 keys out of 100 000, through the
// Machine and through the handler (stale read, so the engine adds nothing):
// the work done under the state machine's read lock.
func BenchmarkList(b *testing.B) {
	m := NewMachine()
	for i := range 100_000 {
		m.Apply(uint64(i+1), Command{Op: OpPut, Key: fmt.Sprintf("key-%06d", i), Value: []byte("v")})
	}
	b.Run("machine-limit-10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if keys, more := m.List("key-05", 10); len(keys) != 10 || !more {
				b.Fatalf("%d keys, more %v", len(keys), more)
			}
		}
	})
	h, err := NewHandler(HandlerConfig{Node: fakeNode{}, Machine: m})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("http-limit-10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/kv?limit=10&consistency=stale", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkMachineApplyKeyedPut is BenchmarkMachineApplyPut with an
// idempotency key on every write (what the Go client sends).
func BenchmarkMachineApplyKeyedPut(b *testing.B) {
	m := NewMachine()
	value := bytes.Repeat([]byte("v"), 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Apply(uint64(i+1), Command{Op: OpPut, Key: fmt.Sprintf("key-%d", i%10000), Value: value, IdempotencyKey: fmt.Sprintf("%032x", i), Time: int64(i)})
	}
}
