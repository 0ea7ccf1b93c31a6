package transportmem_test

import (
	"fmt"
	"testing"

	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// BenchmarkClusterPropose: 3 nodes on transport-mem, in-memory stores,
// 64-byte commands, 1/16/64/256 concurrent proposers on the leader.
func BenchmarkClusterPropose(b *testing.B) {
	for _, proposers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			opts := clustertest.Options{NewNetwork: newClusterNetwork(transportmem.Faults{})}
			clustertest.BenchmarkPropose(b, opts, proposers, 64)
		})
	}
}
