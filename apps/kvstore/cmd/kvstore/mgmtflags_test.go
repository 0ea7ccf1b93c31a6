package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jangada-io/jangada/mgmt"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

func TestJoinAndAdminKeysFlags(t *testing.T) {
	dir := t.TempDir()
	key, _ := transportquic.GenerateIdentity()
	pub := transportquic.FormatKey(transportquic.PublicKey(key))
	keys := filepath.Join(dir, "admin-keys")
	if err := os.WriteFile(keys, []byte("# operators\n"+pub+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 32)
	cfg, err := parseServe(t, "--id", "4", "--listen", "127.0.0.1:9004", "--join", "--admin-keys", keys,
		"--peers", "1=127.0.0.1:9001,2=127.0.0.1:9002,3=127.0.0.1:9003", "--cluster-secret", secret)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Join || len(cfg.AdminKeys) != 1 || mgmt.FormatKey(cfg.AdminKeys[0]) != pub {
		t.Fatalf("Join %v, AdminKeys %v; want join and the key %s", cfg.Join, cfg.AdminKeys, pub)
	}

	bad := filepath.Join(dir, "bad-keys")
	if err := os.WriteFile(bad, []byte("not-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseServe(t, "--admin-keys", bad); err == nil {
		t.Error("an admin key file with a bad line was accepted")
	}
	if _, err := parseServe(t, "--id", "4", "--join", "--cluster-secret", secret); err == nil {
		t.Error("--join without peers was accepted")
	}
}
