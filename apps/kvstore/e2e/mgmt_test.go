package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

var (
	jangadactlOnce sync.Once
	jangadactlPath string
	jangadactlErr  error
)

// buildJangadactl builds the management CLI once, from its own module.
func buildJangadactl(t *testing.T) string {
	t.Helper()
	jangadactlOnce.Do(func() {
		jangadactlPath = filepath.Join(filepath.Dir(binary), "jangadactl")
		jangadactlErr = kvtest.BuildJangadactl(jangadactlPath)
	})
	if jangadactlErr != nil {
		t.Fatal(jangadactlErr)
	}
	return jangadactlPath
}

// ctl runs jangadactl against the cluster's nodes with the cluster secret
// (from a 0600 file, never on the command line).
type ctl struct{ kvtest.Ctl }

// newCtl returns jangadactl pointed at the cluster's nodes, with the
// cluster secret in a private file.
func newCtl(t *testing.T, bin string, c *cluster) ctl {
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secretFile, []byte(kvtest.ClusterSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return ctl{kvtest.Ctl{T: t, Bin: bin, Endpoints: strings.Join(c.RaftAddrs(), ","), SecretFile: secretFile}}
}

type ctlStatus struct {
	Leader  uint64 `json:"leader"`
	Term    uint64 `json:"term"`
	Commit  uint64 `json:"commit"`
	Members []struct {
		ID   uint64 `json:"id"`
		Role string `json:"role"`
		Lag  uint64 `json:"lag"`
	} `json:"members"`
}

func (c ctl) status() (ctlStatus, error) {
	out, err := c.Run("status", "--json")
	var st ctlStatus
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	return st, err
}

// loadStats counts the outcome of a steady write load.
type loadStats struct {
	acked      sync.Map // key → value
	ackedCount atomic.Int64
	retryable  atomic.Int64 // 503, 504, a connection error or the client's timeout
	other      atomic.Int64
	firstErrs  sync.Map
	phase      atomic.Value // string: what the operator is doing
	byPhase    sync.Map     // phase → *atomic.Int64 of failed writes
}

func (s *loadStats) setPhase(p string) { s.phase.Store(p) }

func (s *loadStats) failed() {
	p, _ := s.phase.Load().(string)
	n, _ := s.byPhase.LoadOrStore(p, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

// TestMembershipChangesUnderLoad grows a three-node cluster to four with
// jangadactl while writers keep writing, moves leadership to the new node
// and removes an original one, then checks that no acknowledged write was
// lost. The failed writes of the load are counted and logged.
func TestMembershipChangesUnderLoad(t *testing.T) {
	bin := buildJangadactl(t)
	c := newCluster(t, 3, "pebble")
	jc := newCtl(t, bin, c)
	first := c.WaitLeader(30 * time.Second)
	t.Logf("leader %d", first)

	// A steady load: 4 writers, each through the HTTP endpoints starting
	// with a different node, unique keys.
	var stats loadStats
	stats.setPhase("3 nodes")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	eps := c.Endpoints()
	for i := range 4 {
		rotated := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: rotated, HTTPClient: c.HTTP})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%06d", i, seq)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := cl.Put(ctx, key, []byte(key+"=value"), kvstore.WriteOptions{})
				cancel()
				switch {
				case err == nil:
					stats.acked.Store(key, key+"=value")
					stats.ackedCount.Add(1)
				case isUnavailable(err) && !isOtherAPIError(err):
					stats.retryable.Add(1)
					stats.firstErrs.LoadOrStore(err.Error(), true)
				default:
					stats.other.Add(1)
					stats.firstErrs.LoadOrStore(err.Error(), true)
				}
				if err != nil {
					stats.failed()
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopLoad)
	waitAckedAtLeast := func(n int64) {
		clustertest.WaitFor(t, fmt.Sprintf("%d acknowledged writes", n), 60*time.Second, func() bool { return stats.ackedCount.Load() >= n })
	}
	waitAckedAtLeast(200)

	// Node 4 starts empty and waits to be added.
	n4 := startJoiner(t, c, 4)
	stats.setPhase("add and catch up node 4")
	jc.Must("member", "add", "4", n4.RaftAddr, "--learner")
	clustertest.WaitFor(t, "node 4 caught up as a learner", 60*time.Second, func() bool {
		st, err := jc.status()
		if err != nil {
			return false
		}
		for _, m := range st.Members {
			if m.ID == 4 && m.Role == "learner" && m.Lag <= 100 {
				return true
			}
		}
		return false
	})
	stats.setPhase("promote node 4")
	jc.Must("member", "promote", "4")
	before := stats.ackedCount.Load()
	stats.setPhase("transfer leadership to node 4")
	// A transfer that succeeded can still be undone by an election on a
	// loaded machine (a leader that misses its quorum's answers steps
	// down): ask again, a bounded number of times, until node 4 leads.
	for attempt := 1; ; attempt++ {
		jc.Must("leader", "transfer", "4")
		st, err := jc.status()
		if err == nil && st.Leader == 4 {
			break
		}
		if attempt == 5 {
			t.Fatalf("after %d leader transfers to 4: status %+v, %v", attempt, st, err)
		}
		t.Logf("after leader transfer 4 (attempt %d): status %+v, %v; asking again", attempt, st, err)
	}
	stats.setPhase("node 4 leads")
	waitAckedAtLeast(before + 200) // the load goes on under the new leader
	stats.setPhase("remove and stop node 1")

	// An original node leaves: removed first, then stopped.
	jc.Must("member", "remove", "1")
	if err := c.Terminate(1); err != nil {
		t.Logf("node 1 exited with %v after its removal", err)
	}
	before = stats.ackedCount.Load()
	stats.setPhase("nodes 2, 3, 4")
	waitAckedAtLeast(before + 200)
	stopLoad()

	st := jc.Must("status")
	if strings.Contains(st, "127.0.0.1:") && strings.Contains(st, c.Node(1).RaftAddr) {
		t.Errorf("node 1 still listed after its removal:\n%s", st)
	}
	acked := map[string]string{}
	stats.acked.Range(func(k, v any) bool {
		acked[k.(string)] = v.(string)
		return true
	})
	for _, id := range []uint64{4, 2} {
		verifyAcked(t, c, id, acked, false)
	}
	var errs []string
	stats.firstErrs.Range(func(k, _ any) bool {
		if len(errs) < 5 {
			errs = append(errs, k.(string))
		}
		return true
	})
	phases := map[string]int64{}
	stats.byPhase.Range(func(k, v any) bool {
		phases[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	t.Logf("load: %d writes acknowledged and all present on nodes 4 and 2; failed: %d retryable (503/504, connection error or the writer's 2s timeout), %d other; failures by phase %v; sample errors: %q",
		len(acked), stats.retryable.Load(), stats.other.Load(), phases, errs)
	if stats.other.Load() > 0 {
		t.Errorf("%d writes failed with a non-retryable error", stats.other.Load())
	}
}

// isOtherAPIError reports an HTTP error that is not "try again".
func isOtherAPIError(err error) bool {
	var apiErr *kvstore.APIError
	return errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable && apiErr.Status != http.StatusGatewayTimeout
}

// startJoiner starts node id with --join: an empty log, waiting to be added
// to the cluster whose members c.Peers names.
func startJoiner(t *testing.T, c *cluster, id uint64) *node {
	t.Helper()
	nd := c.AddNode(t.TempDir(), id) // Node(id) and the cleanup see it
	if c.Node(id) != nd {
		t.Fatalf("node %d is not the cluster's node %d", id, len(c.Nodes()))
	}
	c.Start(id, "--join")
	return nd
}

// TestKeylessMembersAreBoundToTheirKeys: in cluster-secret mode the peers
// are named without keys; the first key that proves each member is recorded
// through the log, so that every node pins it and no other holder of the
// secret can claim the id.
func TestKeylessMembersAreBoundToTheirKeys(t *testing.T) {
	bin := buildJangadactl(t)
	c := newCluster(t, 3, "pebble")
	jc := newCtl(t, bin, c)
	c.WaitLeader(30 * time.Second)
	var members []struct {
		ID  uint64 `json:"id"`
		Key string `json:"key"`
	}
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last member list: %s", last)
		}
	}()
	clustertest.WaitFor(t, "every member's key bound", 30*time.Second, func() bool {
		out, err := jc.Run("member", "list", "--json")
		last = fmt.Sprint(out, err)
		if err != nil || json.Unmarshal([]byte(out), &members) != nil {
			return false
		}
		keys := map[string]bool{}
		for _, m := range members {
			if m.Key != "" {
				keys[m.Key] = true
			}
		}
		return len(members) == 3 && len(keys) == 3
	})
	t.Logf("bound keys: %+v", members)
}
