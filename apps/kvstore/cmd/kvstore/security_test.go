package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

const testSecret = "0123456789abcdef0123456789abcdef-file"

func writePrivate(t *testing.T, dir, name, data string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseServeLogs is parseServe that also returns what the command logged.
func parseServeLogs(t *testing.T, args ...string) (app.Config, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	root := newRootCommand(strings.NewReader(""), &bytes.Buffer{})
	root.SetErr(&stderr)
	cmd, rest, err := root.Find(append([]string{"serve"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return app.Config{}, "", err
	}
	if err := applyConfigSources(cmd); err != nil {
		return app.Config{}, "", err
	}
	cfg, err := serveConfig(cmd)
	return cfg, stderr.String(), err
}

func TestClusterSecretComesFromAPrivateFile(t *testing.T) {
	dir := t.TempDir()
	private := writePrivate(t, dir, "secret", testSecret+"\n", 0o600)
	open := writePrivate(t, dir, "open-secret", testSecret+"\n", 0o644)
	peers := "--peers=1=127.0.0.1:7001,2=127.0.0.1:7002"

	cfg, logs, err := parseServeLogs(t, "--cluster-secret-file", private, peers)
	if err != nil || cfg.ClusterSecret != testSecret {
		t.Fatalf("secret from a 0600 file: %q, %v", cfg.ClusterSecret, err)
	}
	if strings.Contains(logs, "visible") {
		t.Fatalf("a warning for a secret from a file:\n%s", logs)
	}

	_, _, err = parseServeLogs(t, "--cluster-secret-file", open, peers)
	if err == nil || !strings.Contains(err.Error(), open) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("secret from a 0644 file: %v; want a refusal naming the file and chmod 600", err)
	}

	_, _, err = parseServeLogs(t, "--cluster-secret-file", private, "--cluster-secret", testSecret, peers)
	if err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("secret from a file and a flag: %v; want a refusal", err)
	}

	// The flag still works, with a warning; the environment does too, without.
	cfg, logs, err = parseServeLogs(t, "--cluster-secret", testSecret, peers)
	if err != nil || cfg.ClusterSecret != testSecret || !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "--cluster-secret-file") {
		t.Fatalf("secret from the flag: %q, %v; logs:\n%s", cfg.ClusterSecret, err, logs)
	}
	t.Setenv("KVSTORE_CLUSTER_SECRET", testSecret)
	cfg, logs, err = parseServeLogs(t, peers)
	if err != nil || cfg.ClusterSecret != testSecret || strings.Contains(logs, "WARN") {
		t.Fatalf("secret from the environment: %q, %v; logs:\n%s", cfg.ClusterSecret, err, logs)
	}
}

func TestConfigFileOpenToOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	file := writePrivate(t, dir, "kvstore.conf", "cluster-secret = "+testSecret+"\n", 0o640)
	_, err := parseServe(t, "--config", file)
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("config file of mode 0640: %v; want a refusal naming the file and chmod 600", err)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kvstore cli test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writePrivate(t, dir, "server.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyPath = writePrivate(t, dir, "server.key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), 0o600)
	return certPath, keyPath
}

func TestClientVerbsAgainstAnAuthenticatedTLSServer(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writeCert(t, dir)
	const token = "cli-readwrite-token-0123456789"
	cfg, _, err := parseServeLogs(t,
		"--transport", "mem", "--store", "memory", "--preset", "testing",
		"--data-dir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0",
		"--http-tls-cert", certPath, "--http-tls-key", keyPath,
		"--http-tokens-file", writePrivate(t, dir, "tokens", "readwrite "+token+"\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = quietLogger()
	var server *app.HTTPServer
	var replica *app.Replica
	a, err := app.New(cfg, fx.NopLogger, fx.Populate(&server, &replica))
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
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })
	tokenFile := writePrivate(t, dir, "token", token+"\n", 0o600)
	kv := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCommand(strings.NewReader(""), &out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(append(args, "--endpoints="+server.Addr().String(), "--tls-ca="+certPath))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	if _, err := kv("put", "k", "v"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("put without --token-file: %v, want 401", err)
	}
	if _, err := kv("put", "k", "v", "--token-file", tokenFile); err != nil {
		t.Fatalf("put with --token-file: %v", err)
	}
	if out, err := kv("get", "k", "--token-file", tokenFile); err != nil || out != "v\n" {
		t.Fatalf("get with --token-file: %q, %v", out, err)
	}
	open := writePrivate(t, dir, "open-token", token+"\n", 0o644)
	if _, err := kv("get", "k", "--token-file", open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("get with a 0644 token file: %v, want a refusal", err)
	}
}

func TestAcceptedClusterSecretsComeFromPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	current := writePrivate(t, dir, "secret", testSecret+"\n", 0o600)
	next := strings.Repeat("n", 40)
	accepted := writePrivate(t, dir, "next-secret", next+"\n", 0o600)
	open := writePrivate(t, dir, "open-next-secret", next+"\n", 0o644)
	peers := "--peers=1=127.0.0.1:7001,2=127.0.0.1:7002"

	cfg, _, err := parseServeLogs(t, "--cluster-secret-file", current, "--cluster-secret-accepted-file", accepted, peers)
	if err != nil || len(cfg.AcceptedClusterSecrets) != 1 || cfg.AcceptedClusterSecrets[0] != next {
		t.Fatalf("accepted secret from a 0600 file: %q, %v", cfg.AcceptedClusterSecrets, err)
	}
	if _, _, err := parseServeLogs(t, "--cluster-secret-file", current, "--cluster-secret-accepted-file", open, peers); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("accepted secret from a 0644 file: %v; want a refusal", err)
	}
	if _, _, err := parseServeLogs(t, "--cluster-secret-accepted-file", accepted, peers); err == nil {
		t.Fatal("an accepted secret without a cluster secret was taken")
	}
}
