package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testNode struct {
	id   uint64
	addr string
	key  ed25519.PrivateKey
	node *raftcore.Node[clustertest.KVCommand, clustertest.KVResult]
	srv  *mgmt.Server
}

// startCluster starts n nodes over QUIC on loopback, each serving
// jangada/mgmt/1. With secret set they authenticate by cluster secret
// (whose holders are admins); otherwise by pinned keys, trusting the
// trusted keys for management and making admins of adminKeys.
func startCluster(t *testing.T, n int, secret []byte, trusted, adminKeys []ed25519.PublicKey) []*testNode {
	t.Helper()
	var nodes []*testNode
	var trs []*transportquic.Transport
	var peers []raftcore.Peer
	for id := uint64(1); id <= uint64(n); id++ {
		key, err := transportquic.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		tr, err := transportquic.New(transportquic.Config{NodeID: id, Identity: key, ClusterSecret: secret, TrustedKeys: trusted})
		if err != nil {
			t.Fatal(err)
		}
		p := raftcore.Peer{ID: id, Addr: tr.Addr().String()}
		if secret == nil {
			p.Key = transportquic.PublicKey(key)
		}
		peers = append(peers, p)
		trs = append(trs, tr)
		nodes = append(nodes, &testNode{id: id, addr: p.Addr, key: key})
	}
	var admins [][]byte
	for _, k := range adminKeys {
		admins = append(admins, k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, tn := range nodes {
		node, err := raftcore.Start(ctx, raftcore.Config{
			NodeID: tn.id, Peers: peers, Preset: raftcore.Testing, Transport: trs[i],
			LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		}, clustertest.NewKV(), clustertest.JSONCodec[clustertest.KVCommand]{})
		if err != nil {
			t.Fatal(err)
		}
		tn.node = node
		if tn.srv, err = mgmt.Mount(trs[i], node, mgmt.ServerConfig{AdminKeys: admins, SecretHoldersAreAdmins: secret != nil}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			_ = tn.srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = tn.node.Close(ctx)
			cancel()
		}
	})
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool {
		for _, tn := range nodes {
			if tn.node.IsLeader() {
				return true
			}
		}
		return false
	})
	return nodes
}

// ctl runs jangadactl with args and returns its exit code and output.
func ctl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code, err := run(context.Background(), append([]string{"--timeout", "20s"}, args...), &out)
	if err != nil {
		t.Logf("jangadactl %s: exit %d: %v", strings.Join(args, " "), code, err)
	}
	return code, out.String()
}

// lineWriter passes each written line to a channel.
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.lines <- l
	}
	return len(p), nil
}

// TestEventsFollowStreamsNewEventsUntilInterrupted follows the event
// stream, makes a membership change, sees its event, and stops the
// command as Ctrl-C would: exit code 0.
func TestEventsFollowStreamsNewEventsUntilInterrupted(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t", 8))
	nodes := startCluster(t, 3, secret, nil, nil)
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	global := []string{"--endpoints", strings.Join(eps, ","), "--cluster-secret-file", writeSecret(t, secret)}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	out := lineWriter{lines: make(chan string, 1000)}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := run(ctx, append(global, "events", "--follow", "--json"), out)
		done <- result{code, err}
	}()
	if code, _ := ctl(t, append(global, "member", "add", "7", "127.0.0.1:1", "--learner")...); code != exitOK {
		t.Fatalf("member add: exit %d", code)
	}
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case l := <-out.lines:
			seen = strings.Contains(l, `"type":"member-added"`) && strings.Contains(l, `"id":7`)
		case <-deadline:
			t.Fatal("no event for member 7 within 20s")
		}
	}
	interrupt()
	select {
	case r := <-done:
		if r.code != exitOK {
			t.Errorf("events --follow after an interrupt: exit %d, %v; want 0", r.code, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("events --follow did not stop on interrupt")
	}
}

func writeSecret(t *testing.T, secret []byte) string {
	path := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(path, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandsWithClusterSecret(t *testing.T) {
	secret := []byte(strings.Repeat("s3cr3t", 8))
	nodes := startCluster(t, 3, secret, nil, nil)
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.addr)
	}
	global := []string{"--endpoints", strings.Join(eps, ","), "--cluster-secret-file", writeSecret(t, secret)}

	code, out := ctl(t, append(global, "status", "--json")...)
	if code != exitOK {
		t.Fatalf("status: exit %d", code)
	}
	var st struct {
		Leader  uint64 `json:"leader"`
		Term    uint64 `json:"term"`
		Members []struct {
			ID      uint64 `json:"id"`
			Address string `json:"address"`
			Role    string `json:"role"`
			Match   uint64 `json:"match"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v in %q", err, out)
	}
	if st.Leader == 0 || st.Term == 0 || len(st.Members) != 3 || st.Members[0].Address != nodes[0].addr || st.Members[0].Role != "voter" {
		t.Fatalf("status --json = %+v", st)
	}
	if code, out := ctl(t, append(global, "status")...); code != exitOK || !strings.Contains(out, "ID") || !strings.Contains(out, nodes[2].addr) {
		t.Errorf("status table: exit %d\n%s", code, out)
	}
	if code, out := ctl(t, append(global, "member", "list")...); code != exitOK || strings.Count(out, "voter") != 3 {
		t.Errorf("member list: exit %d\n%s", code, out)
	}
	if code, out := ctl(t, append(global, "health")...); code != exitOK || strings.Count(out, "ok") < 3 {
		t.Errorf("health: exit %d\n%s", code, out)
	}
	if code, out := ctl(t, append(global, "snapshot", "--json")...); code != exitOK || !strings.Contains(out, `"index"`) {
		t.Errorf("snapshot: exit %d\n%s", code, out)
	}
	to := (st.Leader % 3) + 1
	if code, out := ctl(t, append(global, "leader", "transfer", fmt.Sprint(to))...); code != exitOK || !strings.Contains(out, fmt.Sprintf("member %d leads", to)) {
		t.Errorf("leader transfer %d: exit %d\n%s", to, code, out)
	}
	if code, _ := ctl(t, append(global, "leader", "transfer")...); code != exitOK {
		t.Errorf("leader transfer: exit %d", code)
	}
	if code, out := ctl(t, append(global, "events", "--json")...); code != exitOK || !strings.Contains(out, `"type":"call"`) {
		t.Errorf("events: exit %d\n%s", code, out)
	}
	// Resuming replays only cluster events, and still ends.
	if code, out := ctl(t, append(global, "events", "--since", "1")...); code != exitOK || strings.Contains(out, "seq=1 ") || !strings.Contains(out, "seq=3 ") {
		t.Errorf("events --since 1: exit %d\n%s", code, out)
	}

	// Exit codes scripts rely on.
	if code, _ := ctl(t, append(global, "member", "promote", "99")...); code != exitNotFound {
		t.Errorf("promote 99: exit %d, want %d", code, exitNotFound)
	}
	if code, _ := ctl(t, append(global, "member", "add", "2", "127.0.0.1:1")...); code != exitConflict {
		t.Errorf("add an existing member: exit %d, want %d", code, exitConflict)
	}
	if code, _ := ctl(t, append(global, "member", "remove", "x")...); code != exitUsage {
		t.Errorf("remove x: exit %d, want %d", code, exitUsage)
	}
	if code, _ := ctl(t, append(global, "no-such-command")...); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	if code, _ := ctl(t, "--endpoints", eps[0], "status"); code != exitUsage {
		t.Errorf("status without credentials: exit %d, want %d", code, exitUsage)
	}
	if code, _ := ctl(t, "--endpoints", eps[0], "--cluster-secret-file", writeSecret(t, []byte(strings.Repeat("wrong", 8))), "--timeout", "3s", "status"); code != exitUnauthorized {
		t.Errorf("status with a wrong secret: exit %d, want %d (refused in the handshake)", code, exitUnauthorized)
	}
}

func TestCommandsWithIdentity(t *testing.T) {
	dir := t.TempDir()
	adminFile, operatorFile := filepath.Join(dir, "admin.key"), filepath.Join(dir, "operator.key")
	code, out := ctl(t, "keygen", "--out", adminFile)
	if code != exitOK {
		t.Fatalf("keygen: exit %d", code)
	}
	adminPub, err := mgmt.ParseKey(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
	if fi, err := os.Stat(adminFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	if code, _ := ctl(t, "keygen", "--out", adminFile); code == exitOK {
		t.Error("keygen overwrote an existing key file")
	}
	_, out = ctl(t, "keygen", "--out", operatorFile)
	operatorPub, _ := mgmt.ParseKey(strings.TrimSpace(out))

	nodes := startCluster(t, 3, nil,
		[]ed25519.PublicKey{adminPub, operatorPub}, // both may connect
		[]ed25519.PublicKey{adminPub})              // only one is an admin
	var eps []string
	for _, n := range nodes {
		eps = append(eps, mgmt.FormatKey(transportquic.PublicKey(n.key))+"@"+n.addr)
	}
	endpoints := strings.Join(eps, ",")
	if code, _ := ctl(t, "--endpoints", endpoints, "--identity", adminFile, "leader", "transfer"); code != exitOK {
		t.Errorf("leader transfer as admin: exit %d", code)
	}
	// The operator's key connects but is neither an admin nor a member.
	if code, _ := ctl(t, "--endpoints", endpoints, "--identity", operatorFile, "member", "remove", "2"); code != exitUnauthorized {
		t.Errorf("member remove as a non-admin: exit %d, want %d", code, exitUnauthorized)
	}
	t.Setenv("JANGADACTL_ENDPOINTS", endpoints)
	t.Setenv("JANGADACTL_IDENTITY", adminFile)
	if code, out := ctl(t, "member", "list", "--json"); code != exitOK || strings.Count(out, `"id"`) != 3 {
		t.Errorf("member list with flags from the environment: exit %d\n%s", code, out)
	}
}
