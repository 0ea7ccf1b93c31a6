package app

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// A scheduled backup shows in the node's event stream (jangadactl events)
// as an operation of the node, with the backup's index.
func TestScheduledBackupsAreEvents(t *testing.T) {
	admin, _ := transportquic.GenerateIdentity()
	cfg := testConfig(t, TransportQUIC, StoreMemory)
	cfg.ListenAddr = freeUDPAddr(t)
	cfg.AdminKeys = []ed25519.PublicKey{transportquic.PublicKey(admin)}
	dir := filepath.Join(t.TempDir(), "backups")
	cfg.BackupSchedule, cfg.BackupTo = "@every 1s", dir
	var replica *Replica
	a := fxtest.New(t, Options(cfg), fx.NopLogger, fx.Populate(&replica))
	a.RequireStart()
	defer a.RequireStop()
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target, err := backup.NewDirTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	var made []backup.Manifest
	clustertest.WaitFor(t, "a scheduled backup", 30*time.Second, func() bool {
		made, _ = backup.List(ctx, target)
		return len(made) > 0
	})

	nodeKey, err := transportquic.LoadIdentity(cfg.IdentityPath())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transportquic.New(transportquic.Config{NodeID: 1 << 50, Identity: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cl, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: cfg.ListenAddr, Key: transportquic.PublicKey(nodeKey)}}, mgmt.ClientConfig{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	// The attempt is recorded once Create returned: the backup may be
	// listed a moment before.
	indexes := map[uint64]bool{}
	clustertest.WaitFor(t, "an event of the backup", 20*time.Second, func() bool {
		err := cl.Events(ctx, mgmt.EventsOptions{}, func(ev mgmt.Event) error {
			if ev.Type == mgmt.EventCall && ev.Call.Caller == mgmt.CallerNode && ev.Call.Op == BackupEventOp && ev.Call.Error == "" {
				indexes[ev.Index] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return indexes[made[0].Index]
	})
}
