package mgmt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// An operation the node records shows in its event stream as a call by
// the node itself, with its index and error; after Close, recording is
// harmless.
func TestRecordedOperationsAreCallEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	network := newPipeNetwork()
	tr := network.transport(raftcore.Peer{ID: 1, Addr: "node-1"})
	node := startNode(ctx, tr)
	defer node.Close(ctx)
	srv, err := mgmt.Mount(tr, node, mgmt.ServerConfig{AdminKeys: [][]byte{adminKey()}})
	if err != nil {
		t.Fatal(err)
	}
	srv.RecordOperation("scheduled-backup", 42, nil)
	srv.RecordOperation("scheduled-backup", 0, errors.New("target unreachable"))

	tool := network.transport(raftcore.Peer{Addr: "jangadactl", Key: adminKey()})
	client, err := mgmt.Dial(ctx, []raftcore.Peer{{Addr: "node-1"}}, mgmt.ClientConfig{Transport: tool})
	if err != nil {
		t.Fatal(err)
	}
	var got []mgmt.Event
	err = client.Events(ctx, mgmt.EventsOptions{}, func(ev mgmt.Event) error {
		if ev.Type == mgmt.EventCall && ev.Call.Caller == mgmt.CallerNode {
			got = append(got, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Call.Op != "scheduled-backup" || got[0].Index != 42 || got[0].Call.Error != "" ||
		got[1].Index != 0 || got[1].Call.Error != "target unreachable" || got[1].Node != 1 {
		t.Fatalf("recorded operations in the event stream: %+v", got)
	}
	if want := "seq=0 node=1 call op=scheduled-backup target=0 caller=node index=42"; got[0].String() != want {
		t.Fatalf("event line %q, want %q", got[0].String(), want)
	}
	srv.Close()
	srv.RecordOperation("scheduled-backup", 43, nil)
}
