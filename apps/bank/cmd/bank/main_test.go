package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// parseServe parses args as a serve command line, with the environment
// applied, and returns the node's configuration.
func parseServe(t *testing.T, args ...string) (app.Config, error) {
	t.Helper()
	root := newRootCommand(&bytes.Buffer{})
	cmd, rest, err := root.Find(append([]string{"serve"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return app.Config{}, err
	}
	if err := applyEnvironment(cmd); err != nil {
		return app.Config{}, err
	}
	cmd.SetErr(&bytes.Buffer{})
	return serveConfig(cmd)
}

func TestServeTakesKvstoreFlagsAndTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BANK_STORE", "badger")
	t.Setenv("BANK_HTTP", "127.0.0.1:9999")
	cfg, err := parseServe(t, "--id", "2", "--data-dir", filepath.Join(dir, "d"), "--listen", "127.0.0.1:7102",
		"--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102", "--cluster-secret-file", secret, "--http", "127.0.0.1:8102", "--preset", "testing")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 2 || cfg.Store != "badger" || cfg.HTTPAddr != "127.0.0.1:8102" || len(cfg.Peers) != 2 || cfg.ClusterSecret == "" || cfg.Preset != raftcore.Testing {
		t.Fatalf("config %+v", cfg)
	}
	if err := os.Chmod(secret, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseServe(t, "--cluster-secret-file", secret); err == nil {
		t.Fatal("a secret file open to others was accepted")
	}
	if _, err := parseServe(t, "--store", "floppy"); err == nil {
		t.Fatal("an unknown store was accepted")
	}
}

// TestServeSharesEveryKvstoreServeFlag: the flags come from kvstore's
// serveflags, so secret rotation, discovery, scheduled backups and the
// config file work for the bank too.
func TestServeSharesEveryKvstoreServeFlag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := write("secret", strings.Repeat("s", 40)+"\n")
	old := write("old-secret", strings.Repeat("o", 40)+"\n")
	config := write("bank.conf", "backup-schedule = @daily\nbackup-to = "+filepath.Join(dir, "backups")+"\n")
	cfg, err := parseServe(t, "--data-dir", filepath.Join(dir, "d"), "--cluster-secret-file", secret,
		"--cluster-secret-accepted-file", old, "--config", config,
		"--discover", "static:127.0.0.1:7101", "--bootstrap-expect", "3", "--autopilot-min-voters", "5")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AcceptedClusterSecrets) != 1 || cfg.BackupSchedule != "@daily" || cfg.Discover != "static:127.0.0.1:7101" ||
		cfg.BootstrapExpect != 3 || cfg.Autopilot.MinVoters != 5 {
		t.Fatalf("config %+v", cfg)
	}
}

func TestClientVerbs(t *testing.T) {
	var server *app.HTTPServer
	cfg := app.Config{
		DataDir:   t.TempDir(),
		HTTPAddr:  "127.0.0.1:0",
		Transport: app.TransportMem,
		Store:     app.StoreMemory,
		Preset:    raftcore.Testing,
		Logger:    slog.New(slog.DiscardHandler),
	}
	a, err := app.NewService(cfg, service(cfg), fx.NopLogger, fx.Populate(&server))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCommand(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append(args, "--endpoints="+server.Addr().String()))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	for _, args := range [][]string{{"create-account", "alice", "100"}, {"create-account", "bob", "0"}, {"transfer", "alice", "bob", "30", "--key", "k1"}} {
		if out, err := run(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := run("transfer", "alice", "bob", "30", "--key", "k1")
	var res bank.WriteResponse
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.Duplicate {
		t.Fatalf("the same transfer again: %q, %v; want its first answer, flagged duplicate", out, err)
	}
	if _, err := run("transfer", "bob", "alice", "31"); !errors.Is(err, exitError{code: 3}) {
		t.Fatalf("overdraft: %v, want exit code 3", err)
	}
	out, err = run("accounts")
	var all bank.AccountsResponse
	if err != nil || json.Unmarshal([]byte(out), &all) != nil || all.Total != 100 || all.Accounts["bob"] != 30 {
		t.Fatalf("accounts: %q, %v", out, err)
	}
	if out, err := run("account", "bob"); err != nil || !strings.Contains(out, `"balance": 30`) {
		t.Fatalf("account bob: %q, %v", out, err)
	}
	if out, err := run("status"); err != nil || !strings.Contains(out, `"role": "leader"`) {
		t.Fatalf("status: %q, %v", out, err)
	}
	// The node serves kvstore's live status page, titled for the bank.
	resp, err := http.Get("http://" + server.Addr().String() + "/ui/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `"title": "bank"`) {
		t.Fatalf("GET /ui/snapshot: HTTP %d: %.200s; want the page titled bank", resp.StatusCode, page)
	}
}
