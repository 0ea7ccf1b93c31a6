package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/kvstore/app"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// parseServe parses args as a serve command line, with its config sources
// applied, and returns the node's configuration.
func parseServe(t *testing.T, args ...string) (app.Config, error) {
	t.Helper()
	root := newRootCommand(strings.NewReader(""), &bytes.Buffer{})
	cmd, rest, err := root.Find(append([]string{"serve"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return app.Config{}, err
	}
	if err := applyConfigSources(cmd); err != nil {
		return app.Config{}, err
	}
	return serveConfig(cmd)
}

func TestFlagsBeatEnvironmentBeatsConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kvstore.conf")
	content := "# node settings\nid = 2\ndata-dir = \"" + dir + "/from-file\"\nhttp: 127.0.0.1:9102\nlisten = 127.0.0.1:9002\n" +
		"peers = 1=127.0.0.1:9001,2=127.0.0.1:9002\ncluster-secret = 0123456789abcdef0123456789abcdef\npreset = testing\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KVSTORE_CONFIG", file)
	t.Setenv("KVSTORE_HTTP", "127.0.0.1:9202")
	t.Setenv("KVSTORE_STORE", "memory")
	cfg, err := parseServe(t, "--store", "pebble", "--request-timeout", "3s")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"id from the file", cfg.NodeID, uint64(2)},
		{"data dir from the file", cfg.DataDir, dir + "/from-file"},
		{"http from the environment over the file", cfg.HTTPAddr, "127.0.0.1:9202"},
		{"store from the flag over the environment", cfg.Store, "pebble"},
		{"timeout from the flag", cfg.RequestTimeout, 3 * time.Second},
		{"preset from the file", cfg.Preset, raftcore.Testing},
		{"peers from the file", len(cfg.Peers), 2},
		{"transport by default", cfg.Transport, app.TransportQUIC},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestBadServeSettingsAreRefused(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.conf")
	if err := os.WriteFile(unknown, []byte("colour = blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown preset", []string{"--preset", "fast"}, nil, "unknown preset"},
		{"bad peers", []string{"--peers", "1=nowhere"}, nil, "address"},
		{"unknown store", []string{"--store", "floppy"}, nil, "store"},
		{"bad environment value", nil, map[string]string{"KVSTORE_ID": "one"}, "KVSTORE_ID"},
		{"unknown setting in the file", []string{"--config", unknown}, nil, "unknown setting"},
		{"missing file", []string{"--config", filepath.Join(dir, "none")}, nil, "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := parseServe(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestClientVerbs(t *testing.T) {
	var server *app.HTTPServer
	a, err := app.New(app.Config{
		DataDir:   t.TempDir(),
		HTTPAddr:  "127.0.0.1:0",
		Transport: app.TransportMem,
		Store:     app.StoreMemory,
		Preset:    raftcore.Testing,
		Logger:    quietLogger(),
	}, fx.NopLogger, fx.Populate(&server))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	endpoints := "--endpoints=" + server.Addr().String()
	kv := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCommand(strings.NewReader(stdin), &out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append(args, endpoints))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := kv("", "status")
		if err == nil && strings.Contains(out, `"role": "leader"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader: %s %v", out, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	steps := []struct {
		stdin   string
		args    []string
		want    string // output, with "*" matching any write index line
		wantErr string
	}{
		{"", []string{"put", "greeting", "hello"}, "*", ""},
		{"from stdin", []string{"put", "piped", "-"}, "*", ""},
		{"", []string{"get", "greeting"}, "hello\n", ""},
		{"", []string{"get", "piped", "--stale"}, "from stdin\n", ""},
		{"", []string{"put", "greeting", "again", "--if-version", "0"}, "", "412"},
		{"", []string{"list"}, "greeting\t*piped\t*", ""},
		{"", []string{"list", "--prefix", "pi"}, "piped\t*", ""},
		{"", []string{"del", "greeting"}, "*", ""},
		{"", []string{"get", "greeting"}, "", "404"},
		{"", []string{"get"}, "", "accepts 1 arg"},
	}
	for _, s := range steps {
		out, err := kv(s.stdin, s.args...)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%v: error %v, want %q", s.args, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", s.args, err)
		}
		if !matches(s.want, out) {
			t.Fatalf("%v: output %q, want %q", s.args, out, s.want)
		}
	}
}

// matches reports whether out fits pattern, where each "*" stands for a
// number followed by a newline.
func matches(pattern, out string) bool {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		if !strings.HasPrefix(out, p) {
			return false
		}
		out = out[len(p):]
		if i < len(parts)-1 {
			n := strings.IndexByte(out, '\n')
			if n <= 0 || strings.Trim(out[:n], "0123456789") != "" {
				return false
			}
			out = out[n+1:]
		}
	}
	return out == ""
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
