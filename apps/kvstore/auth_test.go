package kvstore

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// memNode is a Node without raft: it applies commands to its Machine at
// once, in order, and reads under the same lock.
type memNode struct {
	mu      sync.Mutex
	machine *Machine
	index   uint64
}

func (n *memNode) Propose(_ context.Context, cmd Command) (Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	return n.machine.Apply(n.index, cmd), nil
}

func (n *memNode) Read(_ context.Context, fn func() error) error { return n.ReadStale(fn) }

func (n *memNode) ReadStale(fn func() error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fn()
}

func (n *memNode) Leader() uint64          { return 1 }
func (n *memNode) Status() raftcore.Status { return raftcore.Status{ID: 1, Leader: 1} }

const (
	readToken      = "read-token-0123456789abcdef"
	readWriteToken = "readwrite-token-0123456789abcdef"
	tokensFile     = "# test tokens\nread " + readToken + "\n\nreadwrite " + readWriteToken + "\n"
)

func testTokens(t testing.TB) *Tokens {
	t.Helper()
	tokens, err := ParseTokens(strings.NewReader(tokensFile))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

func newMemHandler(t testing.TB, auth *Auth) *Handler {
	t.Helper()
	m := NewMachine()
	h, err := NewHandler(HandlerConfig{Node: &memNode{machine: m}, Machine: m, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseTokens(t *testing.T) {
	tokens := testTokens(t)
	tests := []struct {
		token string
		want  Scope
	}{
		{readToken, ScopeRead},
		{readWriteToken, ScopeReadWrite},
		{"", ScopeNone},
		{readToken[:len(readToken)-1], ScopeNone},
		{readToken + "x", ScopeNone},
		{"read", ScopeNone},
	}
	for _, tt := range tests {
		if got := tokens.Lookup(tt.token); got != tt.want {
			t.Errorf("Lookup(%q) = %v, want %v", tt.token, got, tt.want)
		}
	}
	bad := map[string]string{
		"unknown scope":     "admin " + readToken,
		"short token":       "read short",
		"missing token":     "read",
		"extra field":       "read " + readToken + " more",
		"listed twice":      "read " + readToken + "\nreadwrite " + readToken,
		"no token at all":   "# nothing\n\n",
		"control character": "read " + readToken + "\x01",
	}
	for name, text := range bad {
		if _, err := ParseTokens(strings.NewReader(text)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: ParseTokens: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// tlsClient returns a Client of srv's API with token, trusting srv's
// certificate and presenting cert (if any).
func tlsClient(t *testing.T, srv *httptest.Server, token string, cert *tls.Certificate) *Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: x509.NewCertPool()}
	cfg.RootCAs.AddCert(srv.Certificate())
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := NewClient(ClientConfig{Endpoints: []string{strings.TrimPrefix(srv.URL, "https://")}, Token: token, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func statusOf(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

func TestRequestsWithoutAValidTokenAreRefusedOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(newMemHandler(t, &Auth{Tokens: testTokens(t)}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	writer := tlsClient(t, srv, readWriteToken, nil)
	if _, err := writer.Put(ctx, "k", []byte("v"), WriteOptions{}); err != nil {
		t.Fatalf("put with the read-write token: %v", err)
	}
	reader := tlsClient(t, srv, readToken, nil)
	if v, _, err := reader.Get(ctx, "k", false); err != nil || string(v) != "v" {
		t.Fatalf("get with the read token: %q, %v", v, err)
	}
	if _, err := reader.List(ctx, "", 10, false); err != nil {
		t.Fatalf("list with the read token: %v", err)
	}

	for name, c := range map[string]*Client{
		"no token":         tlsClient(t, srv, "", nil),
		"unknown token":    tlsClient(t, srv, "not-a-token-0123456789", nil),
		"a token's prefix": tlsClient(t, srv, readWriteToken[:20], nil),
	} {
		if _, _, err := c.Get(ctx, "k", false); statusOf(err) != http.StatusUnauthorized {
			t.Errorf("%s: get: %v, want 401", name, err)
		}
		if _, err := c.Put(ctx, "k", []byte("x"), WriteOptions{}); statusOf(err) != http.StatusUnauthorized {
			t.Errorf("%s: put: %v, want 401", name, err)
		}
		if _, err := c.Status(ctx); statusOf(err) != http.StatusUnauthorized {
			t.Errorf("%s: status: %v, want 401", name, err)
		}
	}

	// A read-only token cannot write.
	if _, err := reader.Put(ctx, "k", []byte("x"), WriteOptions{}); statusOf(err) != http.StatusForbidden {
		t.Errorf("put with the read token: %v, want 403", err)
	}
	if _, _, err := reader.Delete(ctx, "k", WriteOptions{}); statusOf(err) != http.StatusForbidden {
		t.Errorf("delete with the read token: %v, want 403", err)
	}
	if v, _, err := writer.Get(ctx, "k", false); err != nil || string(v) != "v" {
		t.Fatalf("the refused writes changed the key: %q, %v", v, err)
	}

	// The 401 tells the client how to authenticate.
	resp, err := srv.Client().Get(srv.URL + "/v1/kv/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("plain GET: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// newCertificate returns a certificate for cn signed by parent (self-signed
// when parent is nil), usable as a CA.
func newCertificate(t *testing.T, cn string, parent *tls.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  parent == nil,
	}
	signer, signerCert := any(key), tmpl
	if parent != nil {
		signer, signerCert = parent.PrivateKey, parent.Leaf
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestVerifiedClientCertificateGrantsItsScope(t *testing.T) {
	ca := newCertificate(t, "kvstore clients", nil)
	client := newCertificate(t, "writer", &ca)
	stranger := newCertificate(t, "stranger", nil)
	srv := httptest.NewUnstartedServer(newMemHandler(t, &Auth{Tokens: testTokens(t), ClientCertScope: ScopeReadWrite}))
	srv.TLS = &tls.Config{ClientCAs: x509.NewCertPool(), ClientAuth: tls.VerifyClientCertIfGiven}
	srv.TLS.ClientCAs.AddCert(ca.Leaf)
	srv.StartTLS()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := tlsClient(t, srv, "", &client).Put(ctx, "k", []byte("v"), WriteOptions{}); err != nil {
		t.Fatalf("put with a client certificate of the CA: %v", err)
	}
	if _, err := tlsClient(t, srv, "", nil).Put(ctx, "k", []byte("v"), WriteOptions{}); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("put without a certificate: %v, want 401", err)
	}
	// A token decides when one is presented, even with a certificate.
	if _, err := tlsClient(t, srv, readToken, &client).Put(ctx, "k", []byte("v"), WriteOptions{}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("put with a read token and a certificate: %v, want 403", err)
	}
	// A certificate of another CA is not sent (the server names its CA)
	// or fails the handshake.
	if _, err := tlsClient(t, srv, "", &stranger).Put(ctx, "k", []byte("v"), WriteOptions{}); err == nil || (statusOf(err) != 0 && statusOf(err) != http.StatusUnauthorized) {
		t.Fatalf("put with a certificate of another CA: %v, want 401 or a TLS error", err)
	}
}

func TestInternalErrorsCarryARequestIDAndNoDetail(t *testing.T) {
	var logs bytes.Buffer
	const detail = "disk on fire under /var/lib/kvstore/secret"
	h, err := NewHandler(HandlerConfig{
		Node:    fakeNode{err: errors.New(detail)},
		Machine: NewMachine(),
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodPut, "/v1/kv/k", strings.NewReader("v")),
		httptest.NewRequest(http.MethodGet, "/v1/kv/k", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusInternalServerError {
			t.Fatalf("%s: %d %s, want a JSON 500", req.Method, rec.Code, rec.Body)
		}
		id := body["request_id"]
		if len(id) < 16 || !strings.Contains(body["error"], id) || rec.Header().Get("X-Request-Id") != id {
			t.Fatalf("%s: body %v, X-Request-Id %q: want a request id in both", req.Method, body, rec.Header().Get("X-Request-Id"))
		}
		if strings.Contains(rec.Body.String(), "fire") {
			t.Fatalf("%s: the 500 body shows the internal error: %s", req.Method, rec.Body)
		}
		if !strings.Contains(logs.String(), "request_id="+id) || !strings.Contains(logs.String(), detail) {
			t.Fatalf("%s: the log does not hold the id and the error:\n%s", req.Method, logs.String())
		}
	}
}
