package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// counter is a service's state machine: a total that commands add to.
type counter struct{ total int64 }

func (c *counter) Apply(_ uint64, add int64) int64 { c.total += add; return c.total }
func (c *counter) Snapshot(w io.Writer) error      { _, err := fmt.Fprintln(w, c.total); return err }
func (c *counter) Restore(r io.Reader) error       { _, err := fmt.Fscanln(r, &c.total); return err }

// TestServiceRunsItsOwnMachineOnTheWiring serves a counter instead of the
// key-value store: its route proposes through the raft node, and the
// wiring's own routes (metrics, health) are served next to it.
func TestServiceRunsItsOwnMachineOnTheWiring(t *testing.T) {
	cfg := testConfig(t, TransportQUIC, StorePebble)
	backups := filepath.Join(t.TempDir(), "backups")
	cfg.BackupSchedule, cfg.BackupTo = "@every 1s", backups
	svc := Service[int64, int64]{
		Name:    "counter",
		Machine: &counter{},
		Codec:   clustertest.JSONCodec[int64]{},
		Routes: func(n *ServiceNode[int64, int64]) ([]Route, error) {
			return []Route{{Pattern: "POST /add", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				total, err := n.Propose(r.Context(), 2)
				if err != nil {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				fmt.Fprint(w, total)
			})}}, nil
		},
	}
	var (
		node   *ServiceNode[int64, int64]
		server *HTTPServer
	)
	a := fxtest.New(t, ServiceOptions(cfg, svc), fx.NopLogger, fx.Populate(&node, &server))
	a.RequireStart()
	defer a.RequireStop()
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return node.Status().Leader != 0 })
	base := "http://" + server.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for _, want := range []string{"2", "4"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/add", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("POST /add: %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "raft_") {
		t.Fatalf("GET /metrics: %d, no raft metrics", resp.StatusCode)
	}
	// Scheduled backups run for a service too, labelled with its name, so
	// that a restore into another application refuses them.
	target, err := backup.NewDirTarget(backups)
	if err != nil {
		t.Fatal(err)
	}
	var made []backup.Manifest
	clustertest.WaitFor(t, "a scheduled backup of the service", 30*time.Second, func() bool {
		made, _ = backup.List(ctx, target)
		return len(made) > 0
	})
	if made[0].StateMachine != "counter" {
		t.Errorf("the service's backup is labelled %q, want its name \"counter\"", made[0].StateMachine)
	}
	if _, err := NewService(cfg, Service[int64, int64]{Machine: &counter{}, Codec: clustertest.JSONCodec[int64]{}, Routes: svc.Routes}); err == nil {
		t.Fatal("a service without a name was accepted")
	}
	if _, err := NewService(cfg, Service[int64, int64]{}); err == nil {
		t.Fatal("a service without machine, codec and routes was accepted")
	}
}
