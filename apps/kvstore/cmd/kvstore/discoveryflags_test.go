package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/discovery"
)

func TestDiscoveryAndTicketFlags(t *testing.T) {
	secret := strings.Repeat("s", 32)
	dir := t.TempDir()
	tk, err := discovery.NewTicket([]byte(secret), 5, discovery.RoleVoter, time.Hour, []string{"127.0.0.1:9001"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ticketFile := filepath.Join(dir, "node5.ticket")
	if err := os.WriteFile(ticketFile, []byte(tk.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The ticket names the node id; the autopilot flags reach the config.
	cfg, err := parseServe(t, "--listen", "127.0.0.1:9005", "--cluster-secret", secret, "--join-ticket-file", ticketFile,
		"--autopilot-stabilization", "2s", "--autopilot-max-lag", "9", "--autopilot-promote=false", "--autopilot-dead-voter-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 5 || cfg.JoinTicket != tk.String() {
		t.Fatalf("NodeID %d, ticket %q; want 5 and the file's ticket", cfg.NodeID, cfg.JoinTicket)
	}
	if a := cfg.Autopilot; a.StabilizationTime != 2*time.Second || a.MaxLag != 9 || !a.DisablePromotion || a.DeadVoterTimeout != time.Minute {
		t.Fatalf("autopilot config %+v", a)
	}

	// The same ticket from the environment.
	t.Setenv("KVSTORE_JOIN_TICKET", tk.String())
	if cfg, err := parseServe(t, "--listen", "127.0.0.1:9005", "--cluster-secret", secret); err != nil || cfg.NodeID != 5 {
		t.Fatalf("ticket from KVSTORE_JOIN_TICKET: id %d, %v", cfg.NodeID, err)
	}
	os.Unsetenv("KVSTORE_JOIN_TICKET")

	cfg, err = parseServe(t, "--id", "2", "--listen", "127.0.0.1:9002", "--cluster-secret", secret,
		"--discover", "dns-srv:_raft._udp.kv.default.svc.cluster.local", "--bootstrap-expect", "3")
	if err != nil || cfg.BootstrapExpect != 3 || cfg.Discover == "" {
		t.Fatalf("discover: %+v, %v", cfg, err)
	}

	open := filepath.Join(dir, "open.ticket")
	if err := os.WriteFile(open, []byte(tk.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"--cluster-secret", secret, "--join-ticket-file", open},                                        // readable by others
		{"--cluster-secret", secret, "--join-ticket-file", ticketFile, "--join-ticket", tk.String()},    // twice
		{"--cluster-secret", secret, "--id", "6", "--join-ticket-file", ticketFile},                     // another id
		{"--join-ticket-file", ticketFile},                                                              // no secret
		{"--cluster-secret", secret, "--join-ticket", "jt1garbage"},                                     // not a ticket
		{"--cluster-secret", secret, "--discover", "static:127.0.0.1:9001"},                             // no expect
		{"--cluster-secret", secret, "--bootstrap-expect", "3"},                                         // no source
		{"--cluster-secret", secret, "--discover", "carrier-pigeon:home", "--bootstrap-expect", "3"},    // bad source
		{"--discover", "static:127.0.0.1:9001", "--bootstrap-expect", "3"},                              // no secret
		{"--cluster-secret", secret, "--discover", "static:127.0.0.1:9001", "--bootstrap-expect", "-1"}, // negative
	} {
		if _, err := parseServe(t, append([]string{"--listen", "127.0.0.1:9005"}, bad...)...); err == nil {
			t.Errorf("%v was accepted", bad)
		} else {
			t.Logf("%v: %v", bad, err)
		}
	}
}
