package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func TestWritesThroughEveryNodeAreReadLinearizably(t *testing.T) {
	c := newCluster(t, 3, "pebble")
	c.WaitLeader(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := range 3 {
		for _, writer := range c.Nodes() {
			value := fmt.Sprintf("round %d via node %d", round, writer.ID)
			index, err := writer.Client.Put(ctx, "shared", []byte(value), kvstore.WriteOptions{})
			if err != nil {
				t.Fatalf("put via node %d: %v", writer.ID, err)
			}
			// A linearizable read on any node, issued after the write was
			// acknowledged, returns it.
			for _, reader := range c.Nodes() {
				got, version, err := reader.Client.Get(ctx, "shared", false)
				if err != nil || string(got) != value || version != index {
					t.Fatalf("read on node %d after write via node %d: %q at %d, %v; want %q at %d",
						reader.ID, writer.ID, got, version, err, value, index)
				}
			}
		}
	}
}

func TestLeaderKillLosesNoAcknowledgedWrite(t *testing.T) {
	for _, store := range []string{"pebble", "badger", "wal"} {
		t.Run(store, func(t *testing.T) {
			c := newCluster(t, 3, store)
			leader := c.WaitLeader(20 * time.Second)
			w := startWriters(t, c, 4)
			w.waitAcked(t, 100, 30*time.Second)

			killedAt := time.Now()
			c.Kill(leader)
			before := w.count()
			w.waitAcked(t, before+100, 30*time.Second)
			resumed, _ := w.firstAckAfter(killedAt)
			t.Logf("%s: leader %d killed with SIGKILL; writes resumed after %v", store, leader, resumed.Sub(killedAt).Round(time.Millisecond))
			// Testing preset: 150ms election timeout; allow a generous
			// multiple for a loaded machine.
			if gap := resumed.Sub(killedAt); gap > 5*time.Second {
				t.Fatalf("writes resumed only after %v", gap)
			}

			c.Start(leader)
			w.waitAcked(t, w.count()+50, 30*time.Second)
			w.stop()
			acked := w.snapshot()
			newLeader := c.WaitLeader(20 * time.Second)
			st, err := c.Status(newLeader)
			if err != nil {
				t.Fatal(err)
			}
			c.WaitCaughtUp(leader, st.CommitIndex, 30*time.Second)
			verifyAcked(t, c, newLeader, acked, false)
			verifyAcked(t, c, leader, acked, true)
			t.Logf("%d acknowledged writes verified on every node", len(acked))
		})
	}
}

func TestFullClusterKillKeepsEveryAcknowledgedWrite(t *testing.T) {
	for _, store := range []string{"pebble", "wal"} {
		t.Run(store, func(t *testing.T) {
			c := newCluster(t, 3, store)
			c.WaitLeader(20 * time.Second)
			w := startWriters(t, c, 4)
			w.waitAcked(t, 150, 30*time.Second)
			for _, nd := range c.Nodes() {
				c.Kill(nd.ID) // mid-write: requests are in flight
			}
			w.stop()
			acked := w.snapshot()
			for _, nd := range c.Nodes() {
				c.Start(nd.ID)
			}
			leader := c.WaitLeader(20 * time.Second)
			verifyAcked(t, c, leader, acked, false)
			t.Logf("%s: %d acknowledged writes survived SIGKILL of the whole cluster", store, len(acked))
		})
	}
}

func TestGracefulStopHandsLeadershipAway(t *testing.T) {
	c := newCluster(t, 3, "pebble")
	leader := c.WaitLeader(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Node(leader).Client.Put(ctx, "before", []byte("stop"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(leader); err != nil {
		t.Fatalf("SIGTERM: exit status %v, want 0", err)
	}
	next := c.WaitLeader(10 * time.Second)
	if next == leader {
		t.Fatalf("stopped node %d still leads", leader)
	}
	got, _, err := c.Node(next).Client.Get(ctx, "before", false)
	if err != nil || string(got) != "stop" {
		t.Fatalf("after hand-off: %q, %v", got, err)
	}
}

// rawCall is one request made with net/http, for exact status codes.
type rawCall struct {
	method, path, body string
	wantStatus         int
	wantCode           string
}

func doRaw(t *testing.T, hc *http.Client, addr string, call rawCall) *http.Response {
	t.Helper()
	req, err := http.NewRequest(call.method, "http://"+addr+call.path, strings.NewReader(call.body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", call.method, call.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != call.wantStatus || (call.wantCode != "" && !strings.Contains(string(body), `"code":"`+call.wantCode+`"`)) {
		t.Fatalf("%s %s: %d %s; want %d with code %q", call.method, call.path, resp.StatusCode, body, call.wantStatus, call.wantCode)
	}
	return resp
}

func TestBadRequestsGetDocumentedErrors(t *testing.T) {
	c := newCluster(t, 3, "pebble", "--max-value-size", "1024")
	c.WaitLeader(20 * time.Second)
	addr := c.Node(1).HTTPAddr
	doRaw(t, c.HTTP, addr, rawCall{method: "PUT", path: "/v1/kv/k?if_version=0", body: "v", wantStatus: 200})
	tests := []struct {
		name string
		call rawCall
	}{
		{"empty key", rawCall{method: "PUT", path: "/v1/kv/", body: "v", wantStatus: 400, wantCode: kvstore.CodeInvalidKey}},
		{"bad if_version", rawCall{method: "PUT", path: "/v1/kv/k?if_version=abc", body: "v", wantStatus: 400, wantCode: kvstore.CodeBadRequest}},
		{"bad consistency", rawCall{method: "GET", path: "/v1/kv/k?consistency=weak", wantStatus: 400, wantCode: kvstore.CodeBadRequest}},
		{"absent key", rawCall{method: "GET", path: "/v1/kv/absent", wantStatus: 404, wantCode: kvstore.CodeNotFound}},
		{"create-only of an existing key", rawCall{method: "PUT", path: "/v1/kv/k?if_version=0", body: "v", wantStatus: 412, wantCode: kvstore.CodeVersionMismatch}},
		{"value over the limit", rawCall{method: "PUT", path: "/v1/kv/big", body: strings.Repeat("x", 1025), wantStatus: 413, wantCode: kvstore.CodeTooLarge}},
		{"method not allowed", rawCall{method: "POST", path: "/v1/kv/k", body: "v", wantStatus: 405, wantCode: kvstore.CodeMethodNotAllowed}},
		{"unknown route", rawCall{method: "GET", path: "/v1/nothing", wantStatus: 404, wantCode: kvstore.CodeNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { doRaw(t, c.HTTP, addr, tt.call) })
	}

	t.Run("no quorum", func(t *testing.T) {
		c.Kill(2)
		c.Kill(3)
		// Once node 1 notices it lost the quorum it knows no leader, and
		// says so at once rather than after the request timeout.
		clustertest.WaitFor(t, "node 1 to report no leader", 20*time.Second, func() bool {
			st, err := c.Status(1)
			return err == nil && st.Leader == 0
		})
		for _, call := range []rawCall{
			{method: "PUT", path: "/v1/kv/k", body: "v", wantStatus: 503, wantCode: kvstore.CodeUnavailable},
			{method: "GET", path: "/v1/kv/k", wantStatus: 503, wantCode: kvstore.CodeUnavailable},
		} {
			resp := doRaw(t, c.HTTP, addr, call)
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("%s %s: 503 without Retry-After", call.method, call.path)
			}
		}
		// A stale read is served from local state.
		doRaw(t, c.HTTP, addr, rawCall{method: "GET", path: "/v1/kv/k?consistency=stale", wantStatus: 200})
	})
}

func TestClientFailsOverToTheNextEndpoint(t *testing.T) {
	c := newCluster(t, 3, "pebble")
	c.WaitLeader(20 * time.Second)
	c.Kill(1)
	cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: c.Endpoints(), HTTPClient: c.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var index uint64
	clustertest.WaitFor(t, "a write through the surviving nodes", 20*time.Second, func() bool {
		index, err = cl.Put(ctx, "k", []byte("v"), kvstore.WriteOptions{})
		return err == nil
	})
	if _, version, err := cl.Get(ctx, "k", false); err != nil || version != index {
		t.Fatalf("get: version %d, %v; want %d", version, err, index)
	}
	var apiErr *kvstore.APIError
	if _, _, err := cl.Get(ctx, "absent", false); !errors.As(err, &apiErr) || !errors.Is(err, kvstore.ErrNotFound) {
		t.Fatalf("get of an absent key: %v", err)
	}
}

func TestClusterWithPinnedKeys(t *testing.T) {
	c := prepareCluster(t, 3, "pebble")
	var peers []string
	for _, nd := range c.Nodes() {
		out, err := exec.Command(binary, "identity", "--data-dir", nd.DataDir).Output()
		if err != nil {
			t.Fatalf("identity of node %d: %v", nd.ID, err)
		}
		peers = append(peers, fmt.Sprintf("%d=%s@%s", nd.ID, strings.TrimSpace(string(out)), nd.RaftAddr))
	}
	c.Peers = strings.Join(peers, ",")
	for _, nd := range c.Nodes() {
		c.Start(nd.ID)
	}
	leader := c.WaitLeader(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	follower := leader%3 + 1
	index, err := c.Node(follower).Client.Put(ctx, "pinned", []byte("yes"), kvstore.WriteOptions{})
	if err != nil {
		t.Fatalf("write through follower %d: %v", follower, err)
	}
	st, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.Match < index {
			// Replication reaches every member: each authenticated the others by key.
			clustertest.WaitFor(t, fmt.Sprintf("member %d to replicate index %d", m.ID, index), 10*time.Second, func() bool {
				st, err := c.Status(m.ID)
				return err == nil && st.AppliedIndex >= index
			})
		}
	}
}
