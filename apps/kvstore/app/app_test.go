package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	storewal "github.com/jangada-io/jangada/store-wal"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testConfig(t *testing.T, transport, store string) Config {
	return Config{
		// t.TempDir is open to others; the graph creates this one 0700.
		DataDir:    filepath.Join(t.TempDir(), "data"),
		ListenAddr: "127.0.0.1:0",
		HTTPAddr:   "127.0.0.1:0",
		Transport:  transport,
		Store:      store,
		Preset:     raftcore.Testing,
		Logger:     quietLogger(),
	}
}

// startApp starts the graph of cfg under fxtest and returns the node and
// a client of its HTTP API.
func startApp(t *testing.T, cfg Config) (*fxtest.App, *Replica, *kvstore.Client) {
	a, r, c, _ := startAppAt(t, cfg)
	return a, r, c
}

// startAppAt is startApp that also returns the HTTP address.
func startAppAt(t *testing.T, cfg Config) (*fxtest.App, *Replica, *kvstore.Client, string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var (
		replica *Replica
		server  *HTTPServer
	)
	a := fxtest.New(t, Options(cfg), fx.NopLogger, fx.Populate(&replica, &server))
	a.RequireStart()
	httpTransport := &http.Transport{}
	t.Cleanup(httpTransport.CloseIdleConnections)
	c, err := kvstore.NewClient(kvstore.ClientConfig{
		Endpoints:  []string{server.Addr().String()},
		HTTPClient: &http.Client{Transport: httpTransport},
	})
	if err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })
	return a, replica, c, server.Addr().String()
}

func TestEveryBackendServesTheAPI(t *testing.T) {
	tests := []struct{ transport, store string }{
		{TransportMem, StoreMemory},
		{TransportMem, StorePebble},
		{TransportQUIC, StoreMemory},
		{TransportQUIC, StorePebble},
		{TransportQUIC, StoreBadger},
		{TransportQUIC, StoreWAL},
	}
	for _, tt := range tests {
		t.Run(tt.transport+"+"+tt.store, func(t *testing.T) {
			a, _, c := startApp(t, testConfig(t, tt.transport, tt.store))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			index, err := c.Put(ctx, "k", []byte("v"), kvstore.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			value, version, err := c.Get(ctx, "k", false)
			if err != nil || string(value) != "v" || version != index {
				t.Fatalf("get: %q at %d, %v; want v at %d", value, version, err, index)
			}
			a.RequireStop()
		})
	}
}

func TestMetricsAndHealthAreServed(t *testing.T) {
	a, _, c, base := startAppAt(t, testConfig(t, TransportMem, StoreMemory))
	defer a.RequireStop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "k", []byte("v"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Role != "leader" {
		t.Fatalf("status %+v, %v", st, err)
	}
	tests := []struct {
		path, want string
	}{
		{"/metrics", "raft_"},
		{"/health", `"status"`},
		{"/ready", `"status": "ok"`},
		{"/nope", `"code":"not_found"`},
	}
	for _, tt := range tests {
		body := httpGet(t, base, tt.path)
		if !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %.200s; want it to contain %q", tt.path, body, tt.want)
		}
	}
}

func httpGet(t *testing.T, base, path string) string {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestDurableStateSurvivesARestart(t *testing.T) {
	for _, store := range []string{StorePebble, StoreBadger, StoreWAL} {
		t.Run(store, func(t *testing.T) { testStateSurvivesARestart(t, store) })
	}
}

func testStateSurvivesARestart(t *testing.T, store string) {
	cfg := testConfig(t, TransportQUIC, store)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, _, c := startApp(t, cfg)
	index, err := c.Put(ctx, "durable", []byte("yes"), kvstore.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.RequireStop()

	a, r, c := startApp(t, cfg)
	defer a.RequireStop()
	value, version, err := c.Get(ctx, "durable", false)
	if err != nil || string(value) != "yes" || version != index {
		t.Fatalf("after restart: %q at %d, %v; want yes at %d", value, version, err, index)
	}
	if r.Node().AppliedIndex() < index {
		t.Fatalf("applied index %d below the write's %d", r.Node().AppliedIndex(), index)
	}
}

func TestStartFailsCleanlyWhenTheHTTPPortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t, TransportQUIC, StorePebble)
	cfg.HTTPAddr = ln.Addr().String()
	a := fx.New(Options(cfg), fx.NopLogger)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Start(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start: %v, want address already in use", err)
	}
	// The node that had started is closed again: its stores can be reopened.
	cfg.HTTPAddr = "127.0.0.1:0"
	b, _, _ := startApp(t, cfg)
	b.RequireStop()
}

func TestConfigValidation(t *testing.T) {
	key, err := transportquic.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pub := []byte(transportquic.PublicKey(key))
	peer := func(id uint64, addr string, key []byte) raftcore.Peer {
		return raftcore.Peer{ID: id, Addr: addr, Key: key}
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero config", Config{}, true},
		{"mem single node", Config{Transport: TransportMem, Store: StoreMemory}, true},
		{"unknown transport", Config{Transport: "tcp"}, false},
		{"unknown store", Config{Store: "bolt"}, false},
		{"bad HTTP address", Config{HTTPAddr: "8001"}, false},
		{"peers without this node", Config{NodeID: 4, Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil)}}, false},
		{"peers without keys or secret", Config{Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil), peer(2, "127.0.0.1:7002", nil)}}, false},
		{"peers with keys", Config{Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil), peer(2, "127.0.0.1:7002", pub)}}, true},
		{"peers with a secret", Config{ClusterSecret: strings.Repeat("s", 32), Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil), peer(2, "127.0.0.1:7002", nil)}}, true},
		{"short secret", Config{ClusterSecret: "short", Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil), peer(2, "127.0.0.1:7002", nil)}}, false},
		{"own address differs from listen", Config{ListenAddr: "127.0.0.1:9000", Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil)}}, false},
		{"mem with several peers", Config{Transport: TransportMem, ClusterSecret: strings.Repeat("s", 32), Peers: []raftcore.Peer{peer(1, DefaultListenAddr, nil), peer(2, "127.0.0.1:7002", nil)}}, false},
		{"negative value size", Config{MaxValueSize: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParsePeers(t *testing.T) {
	key, _ := transportquic.GenerateIdentity()
	k := transportquic.FormatKey(transportquic.PublicKey(key))
	tests := []struct {
		in      string
		want    []raftcore.Peer
		wantErr bool
	}{
		{in: "1=127.0.0.1:7001", want: []raftcore.Peer{{ID: 1, Addr: "127.0.0.1:7001"}}},
		{in: " 1=a:1, 2=" + k + "@b:2 ,", want: []raftcore.Peer{{ID: 1, Addr: "a:1"}, {ID: 2, Addr: "b:2", Key: transportquic.PublicKey(key)}}},
		{in: "", wantErr: true},
		{in: "1", wantErr: true},
		{in: "0=a:1", wantErr: true},
		{in: "x=a:1", wantErr: true},
		{in: "1=a:1,1=b:2", wantErr: true},
		{in: "1=nokey@a:1", wantErr: true},
		{in: "1=a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePeers(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("ParsePeers: %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("ParsePeers: %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i].ID != tt.want[i].ID || got[i].Addr != tt.want[i].Addr || string(got[i].Key) != string(tt.want[i].Key) {
					t.Fatalf("peer %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// A data directory made by one store and opened with another is refused
// with the store's own error, not fx's chain of the functions it was
// building, and what New opened until then is closed.
func TestAnotherStoresDirectoryIsRefusedPlainly(t *testing.T) {
	// Over QUIC: the transport that New opened before the store refused
	// its directory must be closed again (goleak in TestMain).
	cfg := testConfig(t, TransportQUIC, StorePebble)
	a, _, _ := startApp(t, cfg)
	a.RequireStop()

	cfg.Store = StoreWAL
	cfg.Logger = slog.New(slog.DiscardHandler)
	_, err := New(cfg)
	if !errors.Is(err, storewal.ErrIncompatibleFormat) {
		t.Fatalf("New on pebble's directory with --store wal: %v, want storewal.ErrIncompatibleFormat", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "open wal log store: ") || strings.Contains(msg, "could not build") {
		t.Fatalf("error %q: want the store's error alone", msg)
	}
}
