package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

const (
	testReadToken      = "app-read-token-0123456789"
	testReadWriteToken = "app-readwrite-token-0123456789"
)

// writeFile writes data to name in dir with mode perm and returns its path.
func writeFile(t *testing.T, dir, name, data string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// writeServerCert writes a self-signed certificate for 127.0.0.1 and
// localhost, and its key, to dir, and returns their paths and the
// certificate.
func writeServerCert(t *testing.T, dir string, keyPerm os.FileMode) (certPath, keyPath string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kvstore test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writeFile(t, dir, "server.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyPath = writeFile(t, dir, "server.key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), keyPerm)
	return certPath, keyPath, cert
}

// startServer starts cfg's graph and returns it with its HTTP server.
func startServer(t *testing.T, cfg Config) (*fxtest.App, *HTTPServer, *Replica) {
	t.Helper()
	var (
		server  *HTTPServer
		replica *Replica
	)
	a := fxtest.New(t, Options(cfg), fx.NopLogger, fx.Populate(&server, &replica))
	a.RequireStart()
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })
	return a, server, replica
}

func TestHTTPServerHasTimeoutsAndAHeaderLimit(t *testing.T) {
	a, server, _ := startServer(t, testConfig(t, TransportMem, StoreMemory))
	defer a.RequireStop()
	srv := server.srv
	tests := []struct {
		name string
		got  time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout},
		{"ReadTimeout", srv.ReadTimeout},
		{"WriteTimeout", srv.WriteTimeout},
		{"IdleTimeout", srv.IdleTimeout},
	}
	for _, tt := range tests {
		if tt.got <= 0 {
			t.Errorf("%s is not set", tt.name)
		}
	}
	if srv.WriteTimeout <= srv.ReadTimeout+kvstore.DefaultRequestTimeout {
		t.Errorf("WriteTimeout %v leaves no room for reading a body (%v) and a request (%v)", srv.WriteTimeout, srv.ReadTimeout, kvstore.DefaultRequestTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes %d, want a limit below the default 1 MiB", srv.MaxHeaderBytes)
	}
}

func TestLoopbackServerRefusesOtherHostHeaders(t *testing.T) {
	a, server, _ := startServer(t, testConfig(t, TransportMem, StoreMemory))
	defer a.RequireStop()
	addr := server.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"attacker.example:" + port, http.StatusMisdirectedRequest},
		{"attacker.example", http.StatusMisdirectedRequest},
		{"localhost.attacker.example:" + port, http.StatusMisdirectedRequest},
		{"127.0.0.1:1", http.StatusMisdirectedRequest},
		{"localhost", http.StatusMisdirectedRequest}, // port 80
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1/status", "/metrics"} {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s with Host %q: %d, want %d", path, tt.host, resp.StatusCode, tt.want)
			}
		}
	}
}

func TestAPIRequiresATokenOverTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, cert := writeServerCert(t, dir, 0o600)
	cfg := testConfig(t, TransportMem, StoreMemory)
	cfg.HTTPTLSCert, cfg.HTTPTLSKey = certPath, keyPath
	cfg.HTTPTokensFile = writeFile(t, dir, "tokens", "read "+testReadToken+"\nreadwrite "+testReadWriteToken+"\n", 0o600)
	a, server, _ := startServer(t, cfg)
	defer a.RequireStop()

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := func(token string) *kvstore.Client {
		c, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{server.Addr().String()}, Token: token, TLS: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status := func(err error) int {
		if apiErr, ok := errors.AsType[*kvstore.APIError](err); ok {
			return apiErr.Status
		}
		return 0
	}
	if _, err := client(testReadWriteToken).Put(ctx, "k", []byte("v"), kvstore.WriteOptions{}); err != nil {
		t.Fatalf("put with the readwrite token: %v", err)
	}
	if _, err := client("").Put(ctx, "k", []byte("x"), kvstore.WriteOptions{}); status(err) != http.StatusUnauthorized {
		t.Fatalf("put without a token: %v, want 401", err)
	}
	if _, _, err := client("wrong-token-0123456789").Get(ctx, "k", false); status(err) != http.StatusUnauthorized {
		t.Fatalf("get with a wrong token: %v, want 401", err)
	}
	if _, err := client(testReadToken).Put(ctx, "k", []byte("x"), kvstore.WriteOptions{}); status(err) != http.StatusForbidden {
		t.Fatalf("put with the read token: %v, want 403", err)
	}
	if v, _, err := client(testReadToken).Get(ctx, "k", false); err != nil || string(v) != "v" {
		t.Fatalf("get with the read token: %q, %v", v, err)
	}

	// Metrics and health stay open; the observe module's /status does not.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/metrics": 200, "/health": 200, "/ready": 200, "/status": 401, "/v1/status": 401} {
		resp, err := hc.Get("https://" + server.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Plain HTTP gets no answer from a TLS server.
	if resp, err := (&http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}).Get("http://" + server.Addr().String() + "/v1/kv/k"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP read a key from the TLS server")
		}
	}
}

func TestFilesAndDirectoriesOpenToOthersAreRefused(t *testing.T) {
	dir := t.TempDir()
	tokens := writeFile(t, dir, "tokens", "read "+testReadToken+"\n", 0o644)
	certPath, openKey, _ := writeServerCert(t, dir, 0o640)
	openDataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(openDataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openDataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		named string
		chmod string
	}{
		{"tokens file 0644", func(c *Config) { c.HTTPTokensFile = tokens }, tokens, "chmod 600"},
		{"TLS key 0640", func(c *Config) { c.HTTPTLSCert, c.HTTPTLSKey = certPath, openKey }, openKey, "chmod 600"},
		{"data directory 0755", func(c *Config) { c.DataDir = openDataDir; c.Store = StorePebble }, openDataDir, "chmod 700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, TransportMem, StoreMemory)
			tt.edit(&cfg)
			_, err := New(cfg, fx.NopLogger)
			if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), tt.named) || !strings.Contains(err.Error(), tt.chmod) {
				t.Fatalf("New: %v; want ErrInsecurePermissions naming %s and %q", err, tt.named, tt.chmod)
			}
		})
	}
	// A data directory the graph creates is private.
	fresh := filepath.Join(dir, "fresh")
	cfg := testConfig(t, TransportMem, StorePebble)
	cfg.DataDir = fresh
	a, _, _ := startServer(t, cfg)
	a.RequireStop()
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("created data directory: %v, %v; want mode 0700", info, err)
	}
}

func TestExposedAPIWithoutAuthIsWarnedAbout(t *testing.T) {
	tests := []struct {
		host     string
		loopback bool
	}{
		{"127.0.0.1", true}, {"127.0.0.2", true}, {"::1", true}, {"localhost", true},
		{"", false}, {"0.0.0.0", false}, {"::", false}, {"192.0.2.1", false}, {"example.com", false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.host); got != tt.loopback {
			t.Errorf("isLoopback(%q) = %v, want %v", tt.host, got, tt.loopback)
		}
	}
	addr := &net.TCPAddr{IP: net.IPv4zero, Port: 8001}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	warnExposed(log, Config{}, addr)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "WITHOUT AUTHENTICATION") {
		t.Fatalf("no warning for an open API beyond loopback:\n%s", logs.String())
	}
	logs.Reset()
	warnExposed(log, Config{HTTPTokensFile: "tokens", HTTPTLSCert: "c", HTTPTLSKey: "k"}, addr)
	if logs.Len() != 0 {
		t.Fatalf("a warning for an API with tokens over TLS:\n%s", logs.String())
	}
}

// newClientCA returns a CA certificate (PEM) and a client certificate it
// signed.
func newClientCA(t *testing.T) (caPEM string, client tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(10),
		Subject:               pkix.Name{CommonName: "kvstore client CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(11),
		Subject:      pkix.Name{CommonName: "writer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		tls.Certificate{Certificate: [][]byte{clientDER}, PrivateKey: clientKey}
}

func TestClientCertificateOfTheClientCAMayWrite(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, serverCert := writeServerCert(t, dir, 0o600)
	caPEM, clientCert := newClientCA(t)
	cfg := testConfig(t, TransportMem, StoreMemory)
	cfg.HTTPTLSCert, cfg.HTTPTLSKey = certPath, keyPath
	cfg.HTTPClientCA = writeFile(t, dir, "clients.pem", caPEM, 0o644)
	a, server, _ := startServer(t, cfg)
	defer a.RequireStop()

	client := func(certs ...tls.Certificate) *kvstore.Client {
		roots := x509.NewCertPool()
		roots.AddCert(serverCert)
		c, err := kvstore.NewClient(kvstore.ClientConfig{
			Endpoints: []string{server.Addr().String()},
			TLS:       &tls.Config{RootCAs: roots, Certificates: certs},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client(clientCert).Put(ctx, "k", []byte("v"), kvstore.WriteOptions{}); err != nil {
		t.Fatalf("put with a client certificate of the CA: %v", err)
	}
	_, err := client().Put(ctx, "k", []byte("v"), kvstore.WriteOptions{})
	if apiErr, ok := errors.AsType[*kvstore.APIError](err); !ok || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("put without a client certificate: %v, want 401", err)
	}
}
