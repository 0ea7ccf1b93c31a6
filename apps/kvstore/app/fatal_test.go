package app

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// failingLogStore fails every Save once armed, as a dying disk would.
type failingLogStore struct {
	raftcore.LogStore
	armed atomic.Bool
}

var errDiskGone = errors.New("disk gone")

func (s *failingLogStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if s.armed.Load() {
		return errDiskGone
	}
	return s.LogStore.Save(hs, ents, snap)
}

func TestAFatalStorageErrorShutsTheApplicationDown(t *testing.T) {
	var (
		store   *failingLogStore
		replica *Replica
		server  *HTTPServer
	)
	cfg := testConfig(t, TransportMem, StoreMemory)
	a := fxtest.New(t, Options(cfg), fx.NopLogger,
		fx.Decorate(func(ls raftcore.LogStore) raftcore.LogStore {
			store = &failingLogStore{LogStore: ls}
			return store
		}),
		fx.Populate(&replica, &server))
	a.RequireStart()
	defer a.RequireStop()
	clustertest.WaitFor(t, "a leader", 10*time.Second, func() bool { return replica.Leader() != 0 })

	store.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := replica.Propose(ctx, kvstore.Command{Op: kvstore.OpPut, Key: "k"}); err == nil {
		t.Fatal("a write succeeded on a failing disk")
	}
	select {
	case sig := <-a.Wait():
		if sig.ExitCode != 1 {
			t.Fatalf("shutdown exit code %d, want 1", sig.ExitCode)
		}
	case <-ctx.Done():
		t.Fatal("the application did not shut down after the node stopped")
	}
	if err := replica.Node().Err(); !errors.Is(err, errDiskGone) {
		t.Fatalf("node error %v, want it to wrap the disk error", err)
	}
}
