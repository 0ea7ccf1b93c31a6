package raftcore

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestThreeNodesElectAndReplicate(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	res, err := lead.Propose(ctxT(t, 5*time.Second), kvCmd{Op: "put", Key: "a", Value: "1"})
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	if res.Index == 0 {
		t.Fatalf("result has no index: %+v", res)
	}
	for id, n := range c.nodes {
		waitFor(t, "replication", 5*time.Second, func() bool { v, _ := n.get("a"); return v == "1" })
		_ = id
	}
}
