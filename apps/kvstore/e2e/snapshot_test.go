package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// snapshotIndex reads node id's latest snapshot index from the observe
// module's /status.
func snapshotIndex(t *testing.T, c *cluster, id uint64) uint64 {
	t.Helper()
	resp, err := c.HTTP.Get("http://" + c.Node(id).HTTPAddr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status: %d %s %v", resp.StatusCode, body, err)
	}
	var st struct {
		SnapshotIndex uint64 `json:"snapshot_index"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st.SnapshotIndex
}

// TestRestartedNodeCatchesUpFromASnapshot keeps a follower down while the
// others write past a snapshot and compact their logs (the testing preset
// snapshots every 1,000 entries), so that the follower can only catch up by
// receiving a snapshot over QUIC and restoring the key-value state from it.
func TestRestartedNodeCatchesUpFromASnapshot(t *testing.T) {
	for _, store := range []string{"pebble", "wal"} {
		t.Run(store, func(t *testing.T) { testCatchUpFromASnapshot(t, store) })
	}
}

func testCatchUpFromASnapshot(t *testing.T, store string) {
	c := newCluster(t, 3, store)
	leader := c.WaitLeader(20 * time.Second)
	down := leader%3 + 1
	c.Kill(down)

	w := startWriters(t, c, 16)
	clustertest.WaitFor(t, "the leader to snapshot and compact past 1500", 60*time.Second, func() bool {
		return snapshotIndex(t, c, leader) >= 1500
	})
	w.stop()
	acked := w.snapshot()

	c.Start(down)
	st, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	c.WaitCaughtUp(down, st.CommitIndex, 30*time.Second)
	if got := snapshotIndex(t, c, down); got < 1000 {
		t.Fatalf("node %d's snapshot index is %d: it did not catch up from a snapshot", down, got)
	}
	verifyAcked(t, c, down, acked, true)
	t.Logf("node %d restored %d acknowledged writes from a snapshot", down, len(acked))
}
