package backup_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/jangada-io/jangada/backup"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// Back up a state to a directory, verify it by restoring it into a scratch
// state machine, and seed a new node's stores from it. A real source is a
// management client's State call or a node's OpenState.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "backups-")
	defer os.RemoveAll(dir)
	target, err := backup.NewDirTarget(dir)
	if err != nil {
		panic(err)
	}
	kv := clustertest.NewKV()
	kv.Data["greeting"] = "hello"
	var state bytes.Buffer
	_ = kv.Snapshot(&state)
	source := backup.SourceFunc(func(context.Context) (backup.State, error) {
		return backup.State{Node: 1, Index: 42, Term: 2, StateMachine: "kv", Body: io.NopCloser(&state)}, nil
	})

	m, err := backup.Create(ctx, target, source, backup.CreateOptions{Name: "first"})
	if err != nil {
		panic(err)
	}
	fmt.Println("created", m.Name, "at index", m.Index)

	scratch := clustertest.NewKV()
	if _, err := backup.Verify(ctx, target, "first", backup.VerifyOptions{StateMachine: "kv", Scratch: scratch}); err != nil {
		panic(err)
	}
	fmt.Println("verified: greeting =", scratch.Data["greeting"])

	_, err = backup.Restore(ctx, target, "", backup.RestoreOptions{
		StateMachine: "kv", LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
		Voters: []raftcore.Peer{{ID: 1, Addr: "127.0.0.1:7101"}},
	})
	fmt.Println("restored:", err == nil)

	_, err = backup.Verify(ctx, target, "first", backup.VerifyOptions{StateMachine: "bank"})
	fmt.Println(err)
	// Output:
	// created first at index 42
	// verified: greeting = hello
	// restored: true
	// backup: state machine mismatch: backup first holds state machine "kv", this application's is "bank"
}
