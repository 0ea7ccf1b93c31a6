package transportquic_test

import (
	"fmt"
	"testing"

	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// BenchmarkClusterPropose: 3 nodes over QUIC on loopback (plain sockets, no
// fault injection), in-memory stores, 64 B and 4 KiB commands, 1 and 256
// concurrent proposers on the leader. Compare with transport-mem's
// BenchmarkClusterPropose in the same run.
func BenchmarkClusterPropose(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, proposers := range []int{1, 256} {
			b.Run(fmt.Sprintf("size=%d/proposers=%d", size, proposers), func(b *testing.B) {
				opts := clustertest.Options{NewNetwork: func(t testing.TB) clustertest.Network {
					n := newQUICNetwork(t)
					n.plain = true
					return n
				}}
				clustertest.BenchmarkPropose(b, opts, proposers, size)
			})
		}
	}
}
