package kvstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// apiCall is one HTTP request and the response it must get.
type apiCall struct {
	method     string
	path       string
	body       string
	wantStatus int
	wantCode   string // ErrorResponse.Code for errors
	wantBody   string // exact raw body for successful GETs
}

func newHTTPClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func do(t testing.TB, hc *http.Client, base string, call apiCall) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if call.body != "" || call.method == http.MethodPut {
		body = strings.NewReader(call.body)
	}
	req, err := http.NewRequest(call.method, base+call.path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", call.method, call.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func check(t testing.TB, hc *http.Client, base string, call apiCall) (*http.Response, []byte) {
	t.Helper()
	resp, data := do(t, hc, base, call)
	if resp.StatusCode != call.wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", call.method, call.path, resp.StatusCode, call.wantStatus, data)
	}
	if call.wantCode != "" {
		var er ErrorResponse
		if err := json.Unmarshal(data, &er); err != nil {
			t.Fatalf("%s %s: error body %q is not JSON: %v", call.method, call.path, data, err)
		}
		if er.Code != call.wantCode || er.Error == "" {
			t.Fatalf("%s %s: error %+v, want code %q and a message", call.method, call.path, er, call.wantCode)
		}
	}
	if call.wantBody != "" && string(data) != call.wantBody {
		t.Fatalf("%s %s: body %q, want %q", call.method, call.path, data, call.wantBody)
	}
	return resp, data
}

func writeIndex(t testing.TB, data []byte) uint64 {
	t.Helper()
	var wr WriteResponse
	if err := json.Unmarshal(data, &wr); err != nil || wr.Index == 0 {
		t.Fatalf("write response %q: index %d, err %v", data, wr.Index, err)
	}
	return wr.Index
}

func TestWritesThroughEveryNodeAreReadEverywhere(t *testing.T) {
	c := startMemCluster(t, 3, 3, HandlerConfig{})
	c.waitLeader()
	hc := newHTTPClient(t)
	for i, writer := range c.servers {
		key := fmt.Sprintf("k%d", i)
		_, data := check(t, hc, writer.URL, apiCall{method: "PUT", path: "/v1/kv/" + key, body: "v" + key, wantStatus: 200})
		index := writeIndex(t, data)
		for _, reader := range c.servers {
			resp, _ := check(t, hc, reader.URL, apiCall{method: "GET", path: "/v1/kv/" + key, wantStatus: 200, wantBody: "v" + key})
			if got := resp.Header.Get("X-Version"); got != strconv.FormatUint(index, 10) {
				t.Fatalf("X-Version %q, want %d", got, index)
			}
		}
	}
}

func TestConditionalWrites(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{})
	c.waitLeader()
	hc := newHTTPClient(t)
	base := c.servers[0].URL
	_, data := check(t, hc, base, apiCall{method: "PUT", path: "/v1/kv/cas?if_version=0", body: "one", wantStatus: 200})
	v1 := writeIndex(t, data)
	steps := []struct {
		name string
		call apiCall
	}{
		{"create-only of an existing key fails", apiCall{method: "PUT", path: "/v1/kv/cas?if_version=0", body: "x", wantStatus: 412, wantCode: CodeVersionMismatch}},
		{"stale version fails", apiCall{method: "PUT", path: fmt.Sprintf("/v1/kv/cas?if_version=%d", v1+100), body: "x", wantStatus: 412, wantCode: CodeVersionMismatch}},
		{"failed writes changed nothing", apiCall{method: "GET", path: "/v1/kv/cas", wantStatus: 200, wantBody: "one"}},
		{"current version succeeds", apiCall{method: "PUT", path: fmt.Sprintf("/v1/kv/cas?if_version=%d", v1), body: "two", wantStatus: 200}},
		{"delete with an old version fails", apiCall{method: "DELETE", path: fmt.Sprintf("/v1/kv/cas?if_version=%d", v1), wantStatus: 412, wantCode: CodeVersionMismatch}},
		{"the value is the second write", apiCall{method: "GET", path: "/v1/kv/cas", wantStatus: 200, wantBody: "two"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { check(t, hc, base, s.call) })
	}
}

func TestDeleteAndList(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{})
	c.waitLeader()
	hc := newHTTPClient(t)
	base := c.servers[0].URL
	versions := map[string]uint64{}
	for _, k := range []string{"b/2", "a/1", "b/1", "c", "b/3"} {
		_, data := check(t, hc, base, apiCall{method: "PUT", path: "/v1/kv/" + k, body: k, wantStatus: 200})
		versions[k] = writeIndex(t, data)
	}
	_, data := check(t, hc, base, apiCall{method: "DELETE", path: "/v1/kv/b/3", wantStatus: 200})
	if !bytes.Contains(data, []byte(`"deleted":true`)) {
		t.Fatalf("delete of a present key: %s", data)
	}
	_, data = check(t, hc, base, apiCall{method: "DELETE", path: "/v1/kv/absent", wantStatus: 200})
	if !bytes.Contains(data, []byte(`"deleted":false`)) {
		t.Fatalf("delete of an absent key: %s", data)
	}
	check(t, hc, base, apiCall{method: "GET", path: "/v1/kv/b/3", wantStatus: 404, wantCode: CodeNotFound})

	tests := []struct {
		query    string
		wantKeys []string
		wantMore bool
	}{
		{"", []string{"a/1", "b/1", "b/2", "c"}, false},
		{"?prefix=b/", []string{"b/1", "b/2"}, false},
		{"?prefix=b/&limit=1", []string{"b/1"}, true},
		{"?prefix=zzz", []string{}, false},
		{"?limit=2&consistency=stale", []string{"a/1", "b/1"}, true},
	}
	for _, tt := range tests {
		t.Run("list"+tt.query, func(t *testing.T) {
			_, data := check(t, hc, base, apiCall{method: "GET", path: "/v1/kv" + tt.query, wantStatus: 200})
			var lr ListResponse
			if err := json.Unmarshal(data, &lr); err != nil {
				t.Fatal(err)
			}
			if lr.Keys == nil || len(lr.Keys) != len(tt.wantKeys) || lr.More != tt.wantMore {
				t.Fatalf("got %s, want keys %v more %v", data, tt.wantKeys, tt.wantMore)
			}
			for i, k := range tt.wantKeys {
				if lr.Keys[i].Key != k || lr.Keys[i].Version != versions[k] {
					t.Fatalf("key %d: %+v, want %s at %d", i, lr.Keys[i], k, versions[k])
				}
			}
		})
	}
}

func TestStatusDescribesTheCluster(t *testing.T) {
	c := startMemCluster(t, 3, 3, HandlerConfig{})
	leader := c.waitLeader()
	hc := newHTTPClient(t)
	check(t, hc, c.servers[0].URL, apiCall{method: "PUT", path: "/v1/kv/x", body: "1", wantStatus: 200})
	srv := c.servers[leader-1]
	var st StatusResponse
	clustertest.WaitFor(t, "every member matched on the leader", 5*time.Second, func() bool {
		_, data := check(t, hc, srv.URL, apiCall{method: "GET", path: "/v1/status", wantStatus: 200})
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		for _, m := range st.Members {
			if m.Match < st.CommitIndex {
				return false
			}
		}
		return st.AppliedIndex == st.CommitIndex
	})
	if st.ID != leader || st.Leader != leader || st.Role != "leader" || st.Term == 0 || st.CommitIndex == 0 {
		t.Fatalf("status %+v: want id and leader %d, role leader, a term and a commit index", st, leader)
	}
	if len(st.Members) != 3 {
		t.Fatalf("members %+v, want 3", st.Members)
	}
	for i, m := range st.Members {
		if m.ID != uint64(i+1) || m.Address != addrOf(m.ID) || m.Role != "voter" {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
}

func TestBadRequestsGetDocumentedErrors(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{MaxValueSize: 16, MaxKeySize: 8, MaxListLimit: 50})
	c.waitLeader()
	hc := newHTTPClient(t)
	base := c.servers[0].URL
	tests := []struct {
		name string
		call apiCall
	}{
		{"empty key", apiCall{method: "PUT", path: "/v1/kv/", body: "v", wantStatus: 400, wantCode: CodeInvalidKey}},
		{"key over the limit", apiCall{method: "PUT", path: "/v1/kv/123456789", body: "v", wantStatus: 400, wantCode: CodeInvalidKey}},
		{"control character in key", apiCall{method: "PUT", path: "/v1/kv/a%01b", body: "v", wantStatus: 400, wantCode: CodeInvalidKey}},
		{"invalid UTF-8 key", apiCall{method: "GET", path: "/v1/kv/%ff", wantStatus: 400, wantCode: CodeInvalidKey}},
		{"if_version not a number", apiCall{method: "PUT", path: "/v1/kv/k?if_version=x", body: "v", wantStatus: 400, wantCode: CodeBadRequest}},
		{"negative if_version", apiCall{method: "DELETE", path: "/v1/kv/k?if_version=-1", wantStatus: 400, wantCode: CodeBadRequest}},
		{"unknown consistency", apiCall{method: "GET", path: "/v1/kv/k?consistency=eventual", wantStatus: 400, wantCode: CodeBadRequest}},
		{"limit zero", apiCall{method: "GET", path: "/v1/kv?limit=0", wantStatus: 400, wantCode: CodeBadRequest}},
		{"limit over the maximum", apiCall{method: "GET", path: "/v1/kv?limit=51", wantStatus: 400, wantCode: CodeBadRequest}},
		{"value over the limit", apiCall{method: "PUT", path: "/v1/kv/k", body: strings.Repeat("x", 17), wantStatus: 413, wantCode: CodeTooLarge}},
		{"value at the limit", apiCall{method: "PUT", path: "/v1/kv/k", body: strings.Repeat("x", 16), wantStatus: 200}},
		{"empty value", apiCall{method: "PUT", path: "/v1/kv/empty", body: "", wantStatus: 200}},
		{"absent key", apiCall{method: "GET", path: "/v1/kv/nope", wantStatus: 404, wantCode: CodeNotFound}},
		{"absent key, stale", apiCall{method: "GET", path: "/v1/kv/nope?consistency=stale", wantStatus: 404, wantCode: CodeNotFound}},
		{"unknown route", apiCall{method: "GET", path: "/v2/kv/k", wantStatus: 404, wantCode: CodeNotFound}},
		{"POST to a key", apiCall{method: "POST", path: "/v1/kv/k", body: "v", wantStatus: 405, wantCode: CodeMethodNotAllowed}},
		{"DELETE on the listing", apiCall{method: "DELETE", path: "/v1/kv", wantStatus: 405, wantCode: CodeMethodNotAllowed}},
		{"PUT on status", apiCall{method: "PUT", path: "/v1/status", wantStatus: 405, wantCode: CodeMethodNotAllowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, hc, base, tt.call) })
	}
}

func TestChunkedValueOverTheLimitIs413(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{MaxValueSize: 1024})
	c.waitLeader()
	hc := newHTTPClient(t)
	// A body of unknown length is cut off at the limit while it is read.
	req, err := http.NewRequest("PUT", c.servers[0].URL+"/v1/kv/k", io.MultiReader(strings.NewReader(strings.Repeat("x", 2048))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

func TestNoQuorumIs503WithRetryAfter(t *testing.T) {
	// Node 1 of a three-node cluster runs alone: it never learns a leader.
	c := startMemCluster(t, 3, 1, HandlerConfig{RetryAfter: 2 * time.Second})
	hc := newHTTPClient(t)
	calls := []apiCall{
		{method: "PUT", path: "/v1/kv/k", body: "v", wantStatus: 503, wantCode: CodeUnavailable},
		{method: "DELETE", path: "/v1/kv/k", wantStatus: 503, wantCode: CodeUnavailable},
		{method: "GET", path: "/v1/kv/k", wantStatus: 503, wantCode: CodeUnavailable},
		{method: "GET", path: "/v1/kv", wantStatus: 503, wantCode: CodeUnavailable},
	}
	for _, call := range calls {
		t.Run(call.method+call.path, func(t *testing.T) {
			resp, _ := check(t, hc, c.servers[0].URL, call)
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Fatalf("Retry-After %q, want 2", got)
			}
		})
	}
	// A stale read needs no leader.
	check(t, hc, c.servers[0].URL, apiCall{method: "GET", path: "/v1/kv/k?consistency=stale", wantStatus: 404, wantCode: CodeNotFound})
}

// fakeNode returns canned errors, for the status codes a real cluster
// produces only under rare timing.
type fakeNode struct {
	err   error
	block bool // wait for the context instead
}

func (f fakeNode) Propose(ctx context.Context, _ Command) (Result, error) {
	if f.block {
		<-ctx.Done()
		return Result{}, ctx.Err()
	}
	return Result{}, f.err
}

func (f fakeNode) Read(ctx context.Context, fn func() error) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.err != nil {
		return f.err
	}
	return fn()
}

func (f fakeNode) ReadStale(fn func() error) error { return fn() }
func (f fakeNode) Leader() uint64                  { return 1 }
func (f fakeNode) Status() raftcore.Status         { return raftcore.Status{ID: 1, Leader: 1} }

func TestNodeErrorsMapToStatusCodes(t *testing.T) {
	tests := []struct {
		name     string
		node     fakeNode
		call     apiCall
		wantCode string
		status   int
	}{
		{"proposal timeout is 504", fakeNode{block: true}, apiCall{method: "PUT", path: "/v1/kv/k", body: "v"}, CodeTimeout, 504},
		{"read timeout is 504", fakeNode{block: true}, apiCall{method: "GET", path: "/v1/kv/k"}, CodeTimeout, 504},
		{"dropped proposal is 503", fakeNode{err: fmt.Errorf("%w: no leader", raftcore.ErrProposalDropped)}, apiCall{method: "PUT", path: "/v1/kv/k", body: "v"}, CodeUnavailable, 503},
		{"not leader is 503", fakeNode{err: &raftcore.NotLeaderError{}}, apiCall{method: "DELETE", path: "/v1/kv/k"}, CodeUnavailable, 503},
		{"stopped node is 503", fakeNode{err: raftcore.ErrStopped}, apiCall{method: "GET", path: "/v1/kv"}, CodeUnavailable, 503},
		{"busy queue is 503", fakeNode{err: raftcore.ErrBusy}, apiCall{method: "PUT", path: "/v1/kv/k", body: "v"}, CodeUnavailable, 503},
		{"command over the engine's limit is 413", fakeNode{err: raftcore.ErrTooLarge}, apiCall{method: "PUT", path: "/v1/kv/k", body: "v"}, CodeTooLarge, 413},
		{"anything else is 500", fakeNode{err: errors.New("disk on fire")}, apiCall{method: "PUT", path: "/v1/kv/k", body: "v"}, CodeInternal, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := NewHandler(HandlerConfig{Node: tt.node, Machine: NewMachine(), RequestTimeout: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			var body io.Reader
			if tt.call.body != "" {
				body = strings.NewReader(tt.call.body)
			}
			h.ServeHTTP(rec, httptest.NewRequest(tt.call.method, tt.call.path, body))
			var er ErrorResponse
			if rec.Code != tt.status || json.Unmarshal(rec.Body.Bytes(), &er) != nil || er.Code != tt.wantCode {
				t.Fatalf("got %d %s, want %d with code %s", rec.Code, rec.Body, tt.status, tt.wantCode)
			}
			if tt.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
}

func TestNewHandlerValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  HandlerConfig
	}{
		{"no node", HandlerConfig{Machine: NewMachine()}},
		{"no machine", HandlerConfig{Node: fakeNode{}}},
		{"negative value size", HandlerConfig{Node: fakeNode{}, Machine: NewMachine(), MaxValueSize: -1}},
		{"key limit over the codec's", HandlerConfig{Node: fakeNode{}, Machine: NewMachine(), MaxKeySize: 1 << 20}},
		{"negative timeout", HandlerConfig{Node: fakeNode{}, Machine: NewMachine(), RequestTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHandler(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewHandler: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConcurrentWritesToOneKeyGetDistinctVersions(t *testing.T) {
	c := startMemCluster(t, 3, 3, HandlerConfig{})
	c.waitLeader()
	cl, err := NewClient(ClientConfig{Endpoints: []string{c.servers[0].URL, c.servers[1].URL, c.servers[2].URL}, HTTPClient: newHTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 10
	var (
		mu      sync.Mutex
		indexes = map[uint64]bool{}
		wg      sync.WaitGroup
		errc    = make(chan error, writers)
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				idx, err := cl.Put(ctx, "hot", fmt.Appendf(nil, "%d-%d", w, i), WriteOptions{})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				indexes[idx] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(indexes) != writers*each {
		t.Fatalf("%d distinct indexes for %d writes", len(indexes), writers*each)
	}
	_, version, err := cl.Get(ctx, "hot", false)
	if err != nil {
		t.Fatal(err)
	}
	var highest uint64
	for i := range indexes {
		highest = max(highest, i)
	}
	if version != highest {
		t.Fatalf("version %d, want the last write's index %d", version, highest)
	}
}
