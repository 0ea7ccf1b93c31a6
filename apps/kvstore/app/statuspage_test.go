package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/observe"
)

// firstSnapshot reads the stream of resp up to its first snapshot event and
// returns its data.
func firstSnapshot(t *testing.T, resp *http.Response) observe.PageSnapshot {
	t.Helper()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %q %s", resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	r := bufio.NewReader(resp.Body)
	snapshot := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		switch {
		case line == "event: snapshot\n":
			snapshot = true
		case snapshot && strings.HasPrefix(line, "data: "):
			var s observe.PageSnapshot
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &s); err != nil {
				t.Fatalf("snapshot %q: %v", line, err)
			}
			return s
		}
	}
}

func TestStatusPageIsServedAtUI(t *testing.T) {
	a, _, _, base := startAppAt(t, testConfig(t, TransportMem, StoreMemory))
	defer a.RequireStop()
	if body := httpGet(t, base, "/ui/"); !strings.Contains(body, "<title>jangada status</title>") {
		t.Fatalf("GET /ui/: %.200s", body)
	}
	var snap observe.PageSnapshot
	if err := json.Unmarshal([]byte(httpGet(t, base, "/ui/snapshot")), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Title != "kvstore" || snap.Node.Leader != 1 || snap.MetricsURL != "/metrics" || snap.Health == nil || len(snap.Members) != 1 || !snap.Members[0].Leader {
		t.Fatalf("GET /ui/snapshot: %+v", snap)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + base + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/ui/" || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui ends at %s with %d, want /ui/ and 200", resp.Request.URL.Path, resp.StatusCode)
	}
}

// An open stream must not hold up a graceful stop: the page ends its
// streams before the HTTP server drains.
func TestOpenStatusStreamDoesNotDelayStop(t *testing.T) {
	a, _, _, base := startAppAt(t, testConfig(t, TransportMem, StoreMemory))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+base+"/ui/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	firstSnapshot(t, resp)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	if err := a.Stop(stopCtx); err != nil {
		t.Fatalf("stop with an open status stream: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

func TestStatusPageNeedsTheAPICredentials(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, serverCert := writeServerCert(t, dir, 0o600)
	caPEM, clientCert := newClientCA(t)
	cfg := testConfig(t, TransportMem, StoreMemory)
	cfg.HTTPTLSCert, cfg.HTTPTLSKey = certPath, keyPath
	cfg.HTTPTokensFile = writeFile(t, dir, "tokens", "read "+testReadToken+"\n", 0o600)
	cfg.HTTPClientCA = writeFile(t, dir, "clients.pem", caPEM, 0o644)
	a, server, _ := startServer(t, cfg)
	defer a.RequireStop()

	roots := x509.NewCertPool()
	roots.AddCert(serverCert)
	client := func(certs ...tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(hc *http.Client, path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+server.Addr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	anonymous := client()
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/snapshot", "/ui/stream"} {
		if resp := get(anonymous, path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a credential: %d, want 401", path, resp.StatusCode)
		}
		if resp := get(anonymous, path, "wrong-token-0123456789"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, resp.StatusCode)
		}
	}
	// A read token and a client certificate each open the page and its
	// stream, as a browser holding them would.
	if resp := get(anonymous, "/ui/", testReadToken); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/ with the read token: %d", resp.StatusCode)
	}
	if s := firstSnapshot(t, get(anonymous, "/ui/stream", testReadToken)); s.Node.Leader != 1 {
		t.Errorf("stream with the read token: %+v", s)
	}
	withCert := client(clientCert)
	if resp := get(withCert, "/ui/", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/ with a client certificate: %d", resp.StatusCode)
	}
	if s := firstSnapshot(t, get(withCert, "/ui/stream", "")); s.Node.Leader != 1 {
		t.Errorf("stream with a client certificate: %+v", s)
	}
}
