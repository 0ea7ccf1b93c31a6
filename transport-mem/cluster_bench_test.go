package transportmem_test

import (
	"fmt"
	"testing"

	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// BenchmarkClusterPropose: 3 nodes on transport-mem, in-memory stores, 64 B
// (and 4 KiB) commands, 1/16/64/256 concurrent proposers on the leader.
func BenchmarkClusterPropose(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, proposers := range []int{1, 16, 64, 256} {
			if size != 64 && proposers != 1 && proposers != 256 {
				continue
			}
			b.Run(fmt.Sprintf("size=%d/proposers=%d", size, proposers), func(b *testing.B) {
				opts := clustertest.Options{NewNetwork: newClusterNetwork(transportmem.Faults{})}
				clustertest.BenchmarkPropose(b, opts, proposers, size)
			})
		}
	}
}
