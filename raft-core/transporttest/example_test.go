package transporttest_test

import (
	"context"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/raft-core/transporttest"
)

// A Recorder stands in for the engine as a transport's Handler; tests wait on
// what it recorded instead of sleeping.
func ExampleRecorder() {
	rec := transporttest.NewRecorder()
	go func() {
		// In a real test, a transport delivers this.
		rec.HandleMessages([]*raftpb.Message{transporttest.NewMessage(1, 2, 7, []byte("entry"))})
		rec.ReportUnreachable(3)
	}()
	// In a test: rec.Wait(t, transporttest.WaitTimeout, "the message", cond).
	err := rec.WaitContext(context.Background(), transporttest.WaitTimeout, func(s *transporttest.RecorderState) bool {
		return s.HasIndex(1, 7) && s.Unreachable(3) > 0
	})
	fmt.Println(err, len(rec.Messages()), rec.Unreachable(3))
	// Output: <nil> 1 1
}
