package transportmem_test

import (
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/transporttest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// newNetwork returns a network whose seed is logged if the test fails.
func newNetwork(t *testing.T, cfg transportmem.NetworkConfig) *transportmem.Network {
	t.Helper()
	n, err := transportmem.NewNetwork(cfg)
	if err != nil {
		t.Fatalf("NewNetwork: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("network seed: %d", n.Seed())
		}
	})
	return n
}

func newCluster(cfg transportmem.NetworkConfig) transporttest.NewCluster {
	return func(t *testing.T, ids []uint64) []transporttest.Node {
		n := newNetwork(t, cfg)
		nodes := make([]transporttest.Node, len(ids))
		for i, id := range ids {
			tr, err := n.Transport(raftcore.Peer{ID: id})
			if err != nil {
				t.Fatalf("Transport(%d): %v", id, err)
			}
			nodes[i] = transporttest.Node{Peer: tr.Peer(), Transport: tr}
		}
		return nodes
	}
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		cfg  transportmem.NetworkConfig
	}{
		{"Defaults", transportmem.NetworkConfig{}},
		{"SmallQueuesAndBuffers", transportmem.NetworkConfig{QueueSize: transporttest.MinQueueMessages, MaxBatch: 1, StreamBuffer: 1 << 10}},
		{"FixedDelay", transportmem.NetworkConfig{Faults: transportmem.Faults{Delay: time.Millisecond}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { transporttest.Run(t, newCluster(tt.cfg)) })
	}
}
