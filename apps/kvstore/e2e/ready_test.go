package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestReadyMeansWritable probes the nodes of a cluster from the moment it
// starts and again right after its leader is killed: whenever /ready answers
// 200, a write through that node (no retry) is accepted. Then a second node
// is killed: the last one has no quorum and can never be written through; it
// must stop answering /ready 200, naming the failed check "writable".
func TestReadyMeansWritable(t *testing.T) {
	c := newCluster(t, 3, "pebble")
	p := &readyProber{t: t, c: c}
	p.probeUntilAllReady(nil, 30*time.Second)

	leader := c.WaitLeader(20 * time.Second)
	c.Kill(leader)
	p.probeUntilAllReady(map[uint64]bool{leader: true}, 30*time.Second)
	t.Logf("%d probes, %d writes through ready nodes, all accepted", p.probes, p.writes)

	second := c.WaitLeader(20 * time.Second)
	c.Kill(second)
	var last *node
	for _, nd := range c.Nodes() {
		if c.Running(nd.ID) {
			last = nd
		}
	}
	var body string
	clustertest.WaitFor(t, fmt.Sprintf("node %d, alone without a quorum, to stop answering /ready 200", last.ID), 20*time.Second, func() bool {
		var code int
		code, body = p.get(last, "/ready")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, `"writable"`) {
		t.Errorf("/ready of a node without a live leader = %s, want the failing check named \"writable\"", body)
	}
	t.Logf("node %d alone: /ready %s", last.ID, strings.Join(strings.Fields(body), " "))
}

type readyProber struct {
	t              *testing.T
	c              *cluster
	probes, writes int
}

// probeUntilAllReady probes the running nodes (but skip) in turn until each
// has answered ready and taken a write.
func (p *readyProber) probeUntilAllReady(skip map[uint64]bool, timeout time.Duration) {
	p.t.Helper()
	wrote := map[uint64]bool{}
	deadline := time.Now().Add(timeout)
	for {
		done := true
		for _, nd := range p.c.Nodes() {
			if skip[nd.ID] || wrote[nd.ID] {
				continue
			}
			done = false
			if p.probe(nd) {
				wrote[nd.ID] = true
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("not every node became ready and took a write within %v (done: %v)", timeout, wrote)
		}
	}
}

// probe asks node nd's /ready; when ready, it writes through nd, which must
// be accepted.
func (p *readyProber) probe(nd *node) bool {
	p.t.Helper()
	p.probes++
	if code, _ := p.get(nd, "/ready"); code != http.StatusOK {
		return false
	}
	before, err := p.c.Status(nd.ID)
	if err != nil {
		p.t.Fatalf("node %d answered /ready 200, then no status: %v", nd.ID, err)
	}
	p.writes++
	key := fmt.Sprintf("ready-%d-%d", nd.ID, p.probes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+nd.HTTPAddr+"/v1/kv/"+key, strings.NewReader("v"))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.c.HTTP.Do(req)
	if err != nil {
		p.t.Fatalf("node %d answered /ready 200 (leader %d, term %d), then the write failed: %v", nd.ID, before.Leader, before.Term, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("node %d answered /ready 200 (leader %d, term %d), then refused a write: HTTP %d %s", nd.ID, before.Leader, before.Term, resp.StatusCode, body)
	}
	return true
}

func (p *readyProber) get(nd *node, path string) (int, string) {
	resp, err := p.c.HTTP.Get("http://" + nd.HTTPAddr + path)
	if err != nil {
		return 0, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}
