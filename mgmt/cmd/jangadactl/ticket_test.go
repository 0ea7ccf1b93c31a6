package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/discovery"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// TestTicketCreateGrantsTheNextIDAndDiscoverFindsTheEndpoints: with
// --discover instead of --endpoints, ticket create signs a ticket with the
// cluster secret for the next free id, naming the members; --out writes it
// to a private file.
func TestTicketCreateGrantsTheNextIDAndDiscoverFindsTheEndpoints(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t", 8))
	nodes := startCluster(t, 3, secret, nil, nil)
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	global := []string{"--discover", "static:" + strings.Join(eps, ","), "--cluster-secret-file", writeSecret(t, secret)}

	code, out := ctl(t, append(global, "ticket", "create", "--role", "voter", "--ttl", "5m", "--json")...)
	if code != exitOK {
		t.Fatalf("ticket create: exit %d", code)
	}
	var printed struct {
		Ticket string `json:"ticket"`
		NodeID uint64 `json:"node_id"`
	}
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("ticket create --json: %v in %q", err, out)
	}
	tk, err := discovery.ParseTicket(printed.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if tk.NodeID != 4 || printed.NodeID != 4 || tk.Role != discovery.RoleVoter || len(tk.Addrs) != 3 {
		t.Fatalf("ticket grants node %d as %s naming %v; want node 4 as voter naming the 3 members", tk.NodeID, tk.Role, tk.Addrs)
	}
	if err := tk.Verify([][]byte{secret}, time.Now(), 0); err != nil {
		t.Fatalf("the cluster does not accept the ticket: %v", err)
	}
	if time.Until(tk.NotAfter) > 5*time.Minute+time.Second || time.Until(tk.NotAfter) < 4*time.Minute {
		t.Fatalf("ticket expires at %v, want in 5 minutes", tk.NotAfter)
	}

	file := filepath.Join(t.TempDir(), "node7.ticket")
	if code, _ := ctl(t, append(global, "ticket", "create", "--id", "7", "--role", "learner", "--out", file)...); code != exitOK {
		t.Fatalf("ticket create --out: exit %d", code)
	}
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if tk, err := discovery.ParseTicket(string(data)); err != nil || tk.NodeID != 7 || tk.Role != discovery.RoleLearner || info.Mode().Perm() != 0o600 {
		t.Fatalf("ticket file (mode %v): %+v, %v; want node 7 as learner, mode 0600", info.Mode().Perm(), tk, err)
	}

	for _, bad := range [][]string{
		{"ticket", "create", "--role", "admin"},
		{"ticket", "create", "--ttl", "-1m"},
		{"--endpoints", eps[0], "ticket", "create"}, // with --discover too
	} {
		if code, _ := ctl(t, append(global, bad...)...); code != exitUsage {
			t.Fatalf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if code, _ := ctl(t, append(global, "ticket", "create", "--id", "2")...); code != exitConflict {
		t.Fatalf("a ticket for a member's id: exit %d, want %d", code, exitConflict)
	}
}

// TestDiscoverShowsFormingNodesAndWhatTheyWaitFor: two nodes of a
// bootstrap-expect 3 formation (no raft node yet, so no management server)
// are shown forming, each waiting for a third.
func TestDiscoverShowsFormingNodesAndWhatTheyWaitFor(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t", 8))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var addrs []string
	type former struct {
		tr  *transportquic.Transport
		srv *discovery.Server
	}
	var formers []former
	for id := uint64(1); id <= 2; id++ {
		key, err := transportquic.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := transportquic.New(transportquic.Config{NodeID: id, Identity: key, ClusterSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		addr := tr.Addr().String()
		addrs = append(addrs, addr)
		srv, err := discovery.Mount(tr, discovery.ServerConfig{Self: raftcore.Peer{ID: id, Addr: addr, Key: transportquic.PublicKey(key)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close(); _ = tr.Close() })
		formers = append(formers, former{tr: tr, srv: srv})
	}
	src := discovery.StaticSource{{Addr: addrs[0]}, {Addr: addrs[1]}}
	for _, f := range formers {
		wg.Go(func() {
			_, _ = discovery.Form(ctx, discovery.FormConfig{Transport: f.tr, Server: f.srv, Source: src, Expect: 3, ProbeInterval: 20 * time.Millisecond})
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	global := []string{"--discover", "static:" + strings.Join(addrs, ","), "--cluster-secret-file", writeSecret(t, secret)}
	clustertest.WaitFor(t, "both nodes waiting for a third", 20*time.Second, func() bool {
		code, out := ctl(t, append(global, "discover", "--json")...)
		var infos []struct {
			ID      uint64 `json:"id"`
			State   string `json:"state"`
			Waiting string `json:"waiting"`
		}
		if code != exitOK || json.Unmarshal([]byte(out), &infos) != nil || len(infos) != 2 {
			return false
		}
		for _, in := range infos {
			if in.State != discovery.StateForming || in.Waiting != "2 of 3 expected nodes visible" {
				return false
			}
		}
		return true
	})
	code, out := ctl(t, append(global, "discover")...)
	t.Logf("jangadactl discover (exit %d):\n%s", code, out)
}
