package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

func TestJoinConfigValidation(t *testing.T) {
	members := []raftcore.Peer{{ID: 1, Addr: "127.0.0.1:7001"}, {ID: 2, Addr: "127.0.0.1:7002"}}
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"join with the members as peers", Config{NodeID: 4, Join: true, ClusterSecret: secret, Peers: members}, true},
		{"join without peers", Config{NodeID: 4, Join: true, ClusterSecret: secret}, false},
		{"join over the mem transport", Config{NodeID: 4, Join: true, Transport: TransportMem, Peers: members}, false},
		{"peers without this node, not joining", Config{NodeID: 4, ClusterSecret: secret, Peers: members}, false},
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

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// TestManagementServerIsMounted starts a node with an admin key and manages
// it over QUIC: the admin reads its status and health (the observe checks)
// and takes a snapshot; a key that is not an admin's cannot connect.
func TestManagementServerIsMounted(t *testing.T) {
	admin, _ := transportquic.GenerateIdentity()
	stranger, _ := transportquic.GenerateIdentity()
	cfg := testConfig(t, TransportQUIC, StoreMemory)
	cfg.ListenAddr = freeUDPAddr(t)
	cfg.AdminKeys = []ed25519.PublicKey{transportquic.PublicKey(admin)}
	var replica *Replica
	a := fxtest.New(t, Options(cfg), fx.NopLogger, fx.Populate(&replica))
	a.RequireStart()
	defer a.RequireStop()
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })
	nodeKey, err := transportquic.LoadIdentity(cfg.IdentityPath())
	if err != nil {
		t.Fatal(err)
	}
	endpoints := []raftcore.Peer{{Addr: cfg.ListenAddr, Key: transportquic.PublicKey(nodeKey)}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	dial := func(key ed25519.PrivateKey) (*mgmt.Client, error) {
		tr, err := transportquic.New(transportquic.Config{NodeID: 1 << 50, Identity: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: tr, MaxRetries: 1})
	}
	cl, err := dial(admin)
	if err != nil {
		t.Fatalf("Dial as admin: %v", err)
	}
	st, err := cl.Status(ctx)
	if err != nil || st.ID != DefaultNodeID || st.Role != "leader" || len(st.Members) != 1 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	checks, err := cl.Health(ctx, endpoints[0])
	names := map[string]string{}
	for _, c := range checks {
		names[c.Name] = c.Status
	}
	if err != nil || names["storage"] == "" || names["quorum"] != mgmt.HealthOK {
		t.Errorf("Health = %v, %v; want the observe checks", checks, err)
	}
	if _, index, err := cl.Snapshot(ctx); err != nil || index == 0 {
		t.Errorf("Snapshot = %d, %v", index, err)
	}
	if _, err := dial(stranger); err == nil {
		t.Error("a key that is no admin's connected")
	}
}
