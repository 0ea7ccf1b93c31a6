package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// backup create copies the state from a member; list shows it; verify
// passes it and names what is wrong with a damaged copy; restore refuses a
// backup of another state machine, leaving the data directory without a
// snapshot, and a data directory that already holds one.
func TestBackupCommands(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	nodes := startCluster(t, 3, secret, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range nodes {
		if _, err := n.node.WaitLeader(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := nodes[i%3].node.Propose(ctx, clustertest.KVCommand{Op: "put", Key: fmt.Sprint(i), Value: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	global := []string{"--endpoints", strings.Join(eps, ","), "--cluster-secret-file", writeSecret(t, secret)}
	dir := filepath.Join(t.TempDir(), "backups")

	code, out := ctl(t, append(global, "--json", "backup", "create", "--to", dir, "--name", "nightly")...)
	var m backup.Manifest
	if code != exitOK || json.Unmarshal([]byte(out), &m) != nil || m.Name != "nightly" || m.Index < 20 || len(m.Members) != 3 {
		t.Fatalf("backup create: exit %d, %s", code, out)
	}
	if m.ClusterID != discovery.ClusterID(secret) {
		t.Fatalf("manifest's cluster id %q, want the secret's cluster %q", m.ClusterID, discovery.ClusterID(secret))
	}
	if code, _ := ctl(t, append(global, "backup", "create", "--to", dir, "--cluster-id", "another")...); code != exitUsage {
		t.Fatalf("backup create with the id of another cluster: exit %d, want %d", code, exitUsage)
	}
	kv := clustertest.NewKV()
	if _, err := backup.Verify(ctx, mustTarget(t, dir), "nightly", backup.VerifyOptions{Scratch: kv}); err != nil || len(kv.Data) != 20 {
		t.Fatalf("the backup restores %d keys, %v; want 20", len(kv.Data), err)
	}
	if code, out := ctl(t, "backup", "list", "--from", dir); code != exitOK || !strings.Contains(out, "nightly") {
		t.Fatalf("backup list: exit %d, %s", code, out)
	}
	if code, out := ctl(t, "backup", "verify", dir, "--backup", "nightly"); code != exitOK || !strings.Contains(out, "backup nightly is intact") {
		t.Fatalf("backup verify: exit %d, %s", code, out)
	}
	if code, out := ctl(t, append(global, "backup", "create", "--to", dir)...); code != exitOK || !strings.Contains(out, "MB/s") || strings.Contains(out, "%!") {
		t.Fatalf("backup create, text output: exit %d, %q", code, out)
	}
	if code, _ := ctl(t, append(global, "backup", "create", "--to", dir, "--name", "nightly")...); code != exitError {
		t.Fatalf("a second backup of the same name: exit %d", code)
	}

	dataDir := filepath.Join(t.TempDir(), "node11")
	restore := []string{"backup", "restore", "--from", dir, "--data-dir", dataDir, "--id", "11", "--peers", "11=127.0.0.1:7111,12=127.0.0.1:7112"}
	var stderr strings.Builder
	code, err := run(context.Background(), restore, &stderr)
	if code != exitError || err == nil || !strings.Contains(err.Error(), `holds state machine "", this application's is "kvstore"`) {
		t.Fatalf("restore of another state machine: exit %d, %v", code, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "snapshots")); len(entries) != 0 {
		t.Fatalf("a refused restore left %d files in the snapshot directory", len(entries))
	}
	if code, _ := ctl(t, append(restore[:len(restore):len(restore)], "--id", "13")...); code != exitUsage {
		t.Fatalf("restore for an id not in --peers: exit %d, want %d", code, exitUsage)
	}

	body := filepath.Join(dir, "nightly", backup.BodyObject)
	if err := os.Truncate(body, m.BodySize-10); err != nil {
		t.Fatal(err)
	}
	code, err = run(context.Background(), []string{"backup", "verify", dir, "--backup", "nightly"}, &stderr)
	if code != exitError || err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("verify of a truncated backup: exit %d, %v", code, err)
	}
	t.Logf("truncated backup: %v", err)
}

func mustTarget(t *testing.T, location string) backup.Target {
	t.Helper()
	target, err := backup.OpenTarget(location)
	if err != nil {
		t.Fatal(err)
	}
	return target
}
