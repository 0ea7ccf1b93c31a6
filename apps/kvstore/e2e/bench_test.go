package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
)

// BenchmarkClusterPut measures acknowledged writes of 100-byte values
// through the HTTP API of a three-node cluster of processes (QUIC, fsync
// on every log save), from 16 concurrent clients spread over the nodes.
func BenchmarkClusterPut(b *testing.B) {
	for _, store := range []string{"pebble", "badger"} {
		b.Run(store, func(b *testing.B) {
			c := newCluster(b, 3, store, "--log-level", "error")
			c.WaitLeader(20 * time.Second)
			eps := c.Endpoints()
			value := make([]byte, 100)
			var next atomic.Uint64
			b.SetParallelism(8) // 16 clients on two cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n := next.Add(1)
				cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{eps[n%3]}, HTTPClient: c.HTTP})
				if err != nil {
					b.Error(err)
					return
				}
				for i := 0; pb.Next(); i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cl.Put(ctx, fmt.Sprintf("bench-%d-%d", n, i), value, kvstore.WriteOptions{})
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
