package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func TestBackupConfigIsValidated(t *testing.T) {
	for name, tt := range map[string]struct{ schedule, to, retain, want string }{
		"target without schedule": {"", "/b", "", "need a backup schedule"},
		"schedule without target": {"@daily", "", "", "needs a target"},
		"bad schedule":            {"every day", "/b", "", `schedule "every day"`},
		"bad retention":           {"@daily", "/b", "monthly=2", `unknown rule "monthly"`},
		"bad target":              {"@daily", "ftp://x", "", "want a directory or s3://"},
	} {
		cfg := testConfig(t, TransportMem, StoreMemory)
		cfg.BackupSchedule, cfg.BackupTo, cfg.BackupRetain = tt.schedule, tt.to, tt.retain
		err := cfg.Validate()
		if tt.want == "want a directory or s3://" {
			// Only opening the target finds this: the node refuses to start.
			if err == nil {
				_, err = New(cfg)
			}
		}
		if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, backup.ErrInvalid) || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an invalid-config error naming %q", name, err, tt.want)
		}
	}
}

// A node with a schedule backs up (it leads), prunes as its retention says
// and reports the backups in its metrics.
func TestScheduledBackupsRunOnTheLeader(t *testing.T) {
	cfg := testConfig(t, TransportMem, StorePebble)
	dir := filepath.Join(t.TempDir(), "backups")
	cfg.BackupSchedule, cfg.BackupTo, cfg.BackupRetain = "@every 1s", dir, "2"
	cfg.ClusterSecret = strings.Repeat("c", 32)
	a, _, c, addr := startAppAt(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "k", []byte("v"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	target, err := backup.NewDirTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	clustertest.WaitFor(t, "four scheduled backups", 30*time.Second, func() bool {
		all, _ := backup.List(ctx, target)
		for _, m := range all {
			seen[m.Name] = true
		}
		return len(seen) >= 4
	})
	m, err := backup.Verify(ctx, target, "", backup.VerifyOptions{StateMachine: StateMachineName, Scratch: kvstore.NewMachine()})
	if err != nil {
		t.Fatal(err)
	}
	if want := discovery.ClusterID([]byte(cfg.ClusterSecret)); m.ClusterID != want {
		t.Fatalf("manifest's cluster id %q, want the secret's cluster %q", m.ClusterID, want)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "\nbackup_last_success_timestamp_seconds 1.") {
		t.Fatalf("/metrics reports no successful backup:\n%s", body)
	}
	// Once the node stopped, the retention's two newest are left.
	a.RequireStop()
	if all, err := backup.List(ctx, target); err != nil || len(all) != 2 {
		t.Fatalf("%d backups left, %v; retention keeps 2", len(all), err)
	}
}
