package harness_test

import (
	"fmt"
	"time"

	"github.com/jangada-io/jangada/bench/adapters"
	"github.com/jangada-io/jangada/bench/harness"
)

func ExampleRecorder() {
	r := harness.NewRecorder()
	for i := 1; i <= 100; i++ {
		r.Record(time.Duration(i) * time.Millisecond)
	}
	s := r.Summarize(time.Second, 4096)
	fmt.Printf("%.0f ops/s, %.2f MiB/s, p50 %v, p99 %v\n", s.OpsPerSec, s.MBPerSec, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond))
	// Output: 100 ops/s, 0.39 MiB/s, p50 50ms, p99 99ms
}

func ExampleSelectSystems() {
	systems, err := harness.SelectSystems(adapters.Systems(), []string{"headline"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range systems {
		fmt.Println(s.Name, s.Durable)
	}
	// Output:
	// jangada/quic+pebble true
	// hashicorp/tcp+boltdb true
	// etcd-raft/chan+wal true
}
