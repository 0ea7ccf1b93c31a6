package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// versionedWriters put unique keys through every node and remember, for
// each acknowledged write, its value and version (the index it committed
// at) and when it was acknowledged.
type versionedWriters struct {
	mu    sync.Mutex
	acked map[string]ackedWrite
	stopc chan struct{}
	wg    sync.WaitGroup
}

type ackedWrite struct {
	value   string
	version uint64
	at      time.Time
}

func startVersionedWriters(t *testing.T, c *cluster, n int) *versionedWriters {
	w := &versionedWriters{acked: map[string]ackedWrite{}, stopc: make(chan struct{})}
	eps := c.Endpoints()
	for i := range n {
		rotated := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: rotated, HTTPClient: c.HTTP})
		if err != nil {
			t.Fatal(err)
		}
		w.wg.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-w.stopc:
					return
				default:
				}
				key := fmt.Sprintf("b%d-%06d", i, seq)
				value := key + "=value"
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				version, err := cl.Put(ctx, key, []byte(value), kvstore.WriteOptions{})
				cancel()
				if err != nil {
					continue // outcome unknown: not counted
				}
				w.mu.Lock()
				w.acked[key] = ackedWrite{value: value, version: version, at: time.Now()}
				w.mu.Unlock()
			}
		})
	}
	t.Cleanup(w.stop)
	return w
}

func (w *versionedWriters) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	w.wg.Wait()
}

func (w *versionedWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func (w *versionedWriters) snapshot() map[string]ackedWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]ackedWrite, len(w.acked))
	for k, v := range w.acked {
		out[k] = v
	}
	return out
}

// takenBackup is a backup made during the drill, and the writes
// acknowledged before it started.
type takenBackup struct {
	kind     string
	location string
	manifest backup.Manifest
	started  time.Time
}

// TestRestoreDrill writes a workload to a 3-node cluster, backs it up under
// load to a directory and to an in-process S3 server with jangadactl,
// destroys every node, and restores each backup into a fresh 3-node cluster
// with new ids (on pebble from the directory, on badger from S3): every write acknowledged before a backup started reads
// back with its value and version, exactly the acknowledged writes at or
// below the backup's index are there, and a backup of the restored cluster
// has the same state hash.
func TestRestoreDrill(t *testing.T) {
	bin := buildJangadactl(t)
	s3 := gofakes3Server(t)
	c := newCluster(t, 3, "pebble")
	jc := newCtl(t, bin, c)
	c.WaitLeader(30 * time.Second)
	w := startVersionedWriters(t, c, 4)
	clustertest.WaitFor(t, "300 acknowledged writes", 60*time.Second, func() bool { return w.count() >= 300 })

	var taken []takenBackup
	for _, location := range []string{filepath.Join(t.TempDir(), "backups"), "s3://" + s3 + "/drill/nightly"} {
		kind := "directory"
		if strings.HasPrefix(location, "s3://") {
			kind = "s3"
		}
		started := time.Now()
		out := jc.Must("--json", "backup", "create", "--to", location)
		var m backup.Manifest
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("backup create output: %v\n%s", err, out)
		}
		if want := discovery.ClusterID([]byte(kvtest.ClusterSecret)); c.SecretFile != "" && m.ClusterID != want {
			t.Fatalf("manifest's cluster id %q, want the cluster's %q", m.ClusterID, want)
		}
		taken = append(taken, takenBackup{kind: kind, location: location, manifest: m, started: started})
		// The load goes on past the backup.
		n := w.count()
		clustertest.WaitFor(t, "100 more acknowledged writes", 60*time.Second, func() bool { return w.count() >= n+100 })
	}
	w.stop()
	acked := w.snapshot()
	for _, nd := range c.Nodes() {
		c.Kill(nd.ID)
		if err := os.RemoveAll(nd.DataDir); err != nil {
			t.Fatal(err)
		}
	}

	for i, b := range taken {
		t.Run(b.kind, func(t *testing.T) {
			jc.Must("backup", "verify", b.location, "--backup", b.manifest.Name, "--state-machine", app.StateMachineName)
			target, err := backup.OpenTarget(b.location)
			if err != nil {
				t.Fatal(err)
			}
			// A scratch kvstore machine restores the backup.
			scratch := kvstore.NewMachine()
			if _, err := backup.Verify(context.Background(), target, b.manifest.Name, backup.VerifyOptions{StateMachine: app.StateMachineName, Scratch: scratch}); err != nil {
				t.Fatal(err)
			}
			// Each backup is restored for other log stores.
			for j, store := range map[string][]string{"directory": {"pebble", "wal"}, "s3": {"badger"}}[b.kind] {
				t.Run(store, func(t *testing.T) {
					first := uint64(10 * (2*i + j + 1))
					ids := []uint64{first + 1, first + 2, first + 3}
					rc := restoredCluster(t, jc, c, b, ids, store)
					leader := rc.WaitLeader(30 * time.Second)
					checkRestored(t, rc, leader, b, acked, scratch.Len())

					// The restored cluster's state is the backup's, byte for byte.
					rjc := newCtl(t, jc.Bin, rc)
					out := rjc.Must("--json", "backup", "create", "--to", filepath.Join(t.TempDir(), "again"))
					var again backup.Manifest
					if err := json.Unmarshal([]byte(out), &again); err != nil {
						t.Fatal(err)
					}
					if again.StateSHA256 != b.manifest.StateSHA256 || again.Index < b.manifest.Index {
						t.Fatalf("restored cluster's state hash %s at index %d, the backup's %s at index %d",
							again.StateSHA256, again.Index, b.manifest.StateSHA256, b.manifest.Index)
					}
					// And it takes writes.
					if _, err := rc.Node(ids[1]).Client.Put(context.Background(), "after-restore", []byte("yes"), kvstore.WriteOptions{}); err != nil {
						t.Fatal(err)
					}
					rc.Shutdown()
				})
			}
		})
	}
}

// restoredCluster prepares and starts a cluster of new ids on store from
// backup b (restored with jangadactl, offline, into empty data
// directories), with the old cluster's secret.
func restoredCluster(t *testing.T, jc ctl, old *cluster, b takenBackup, ids []uint64, store string) *cluster {
	t.Helper()
	rc := &cluster{T: t, Bin: binary, Store: store, HTTP: old.HTTP, SecretFile: old.SecretFile, Dir: t.TempDir()}
	var peers []string
	for _, id := range ids {
		nd := rc.AddNode(rc.Dir, id)
		peers = append(peers, fmt.Sprintf("%d=%s", id, nd.RaftAddr))
	}
	rc.Peers = strings.Join(peers, ",")
	t.Cleanup(func() {
		rc.Shutdown()
		if t.Failed() {
			rc.DumpLogs()
		}
	})
	for _, nd := range rc.Nodes() {
		jc.Must("backup", "restore", "--from", b.location, "--backup", b.manifest.Name,
			"--data-dir", nd.DataDir, "--id", fmt.Sprint(nd.ID), "--peers", rc.Peers, "--store", store)
	}
	for _, nd := range rc.Nodes() {
		rc.Start(nd.ID)
	}
	return rc
}

// checkRestored reads every acknowledged write back from the restored
// cluster: those acknowledged before the backup started must be there with
// their value and version; of the others, exactly those at or below the
// backup's index.
func checkRestored(t *testing.T, rc *cluster, leader uint64, b takenBackup, acked map[string]ackedWrite, keys int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := rc.Node(leader).Client
	before, atOrBelow := 0, 0
	for key, want := range acked {
		got, version, err := cl.Get(ctx, key, false)
		inBackup := want.version <= b.manifest.Index
		if want.at.Before(b.started) {
			before++
			if !inBackup {
				t.Fatalf("write %q acknowledged before the backup started has version %d, above the backup's index %d", key, want.version, b.manifest.Index)
			}
		}
		if inBackup {
			atOrBelow++
			if err != nil || string(got) != want.value || version != want.version {
				t.Fatalf("restored %q = %q at version %d, %v; want %q at %d (backup index %d)", key, got, version, err, want.value, want.version, b.manifest.Index)
			}
			continue
		}
		if !errors.Is(err, kvstore.ErrNotFound) {
			t.Fatalf("restored cluster: %q = %q at version %d, %v; want not found: it was written after the backup's index %d", key, got, version, err, b.manifest.Index)
		}
	}
	if keys < atOrBelow {
		t.Fatalf("backup holds %d keys, fewer than the %d acknowledged at or below its index", keys, atOrBelow)
	}
	t.Logf("backup %s at index %d: %d writes acknowledged before it started, %d at or below its index, all read back; %d keys in it",
		b.manifest.Name, b.manifest.Index, before, atOrBelow, keys)
}

// gofakes3Server serves an in-process S3 with one bucket and points the
// standard environment (which jangadactl inherits) at it. It returns the
// bucket's name.
func gofakes3Server(t *testing.T) string {
	t.Helper()
	mem := s3mem.New()
	const bucket = "drill-backups"
	if err := mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "drill-access-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "drill-secret-key")
	return bucket
}

// TestScheduledBackupsFollowTheLeader runs every node with the same
// schedule (every second) and target: only the leader backs up, one backup
// per run, and when the leader is killed its successor takes the duty over.
func TestScheduledBackupsFollowTheLeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scheduled")
	c := newCluster(t, 3, "pebble", "--backup-schedule", "@every 1s", "--backup-to", dir)
	first := c.WaitLeader(30 * time.Second)
	target, err := backup.NewDirTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	byNode := func() map[uint64]int {
		all, _ := backup.List(ctx, target)
		n := map[uint64]int{}
		for _, m := range all {
			n[m.Node]++
		}
		return n
	}
	clustertest.WaitFor(t, "three backups by the leader", 60*time.Second, func() bool { return byNode()[first] >= 3 })
	c.Kill(first)
	second := c.WaitLeader(30 * time.Second)
	clustertest.WaitFor(t, "three backups by the new leader", 60*time.Second, func() bool { return byNode()[second] >= 3 })

	all, err := backup.List(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range all {
		if m.Node != first && m.Node != second {
			t.Errorf("backup %s made by node %d, which never led", m.Name, m.Node)
		}
		// One backup per run: runs are a second apart, jitter is 100ms.
		if i > 0 && m.CreatedAt.Sub(all[i-1].CreatedAt) < 500*time.Millisecond {
			t.Errorf("backups %s (node %d) and %s (node %d) of one run", all[i-1].Name, all[i-1].Node, m.Name, m.Node)
		}
	}
	t.Logf("%d scheduled backups: %v by node", len(all), byNode())
}
