package raftcore_test

import (
	"fmt"
	"testing"

	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// BenchmarkPropose: 3 nodes on the loopback network, in-memory stores,
// 64-byte commands, 1 to 256 concurrent proposers.
func BenchmarkPropose(b *testing.B) {
	for _, proposers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			clustertest.BenchmarkPropose(b, clustertest.Options{NewNetwork: clustertest.NewLoopback}, proposers, 64)
		})
	}
}
