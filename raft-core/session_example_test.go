package raftcore_test

import (
	"fmt"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// A retried command applies once: the copy gets the first apply's result.
func ExampleSessions() {
	total := &counter{}
	sm := raftcore.NewSessions[int64, int64](total, clustertest.JSONCodec[int64]{}, raftcore.SessionConfig{})
	// Start a Node with sm and raftcore.SessionCodec[int64]{Inner: ...};
	// here the engine's applies are made by hand.
	session := sm.Apply(1, raftcore.SessionCommand[int64]{Op: raftcore.SessionRegister}).Session
	add := raftcore.SessionCommand[int64]{Op: raftcore.SessionCall, Session: session, Seq: 1, Cmd: 5}
	first := sm.Apply(2, add)
	retry := sm.Apply(3, add) // the client lost the answer and sent it again
	fmt.Println(first.Value, retry.Value, retry.Duplicate, total.total)
	// Output: 5 5 true 5
}
