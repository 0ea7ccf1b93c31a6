package transportmem_test

import (
	"fmt"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// clusterNetwork adapts a transportmem.Network to the engine's cluster
// scenarios.
type clusterNetwork struct {
	net *transportmem.Network
}

func newClusterNetwork(faults transportmem.Faults) func(t testing.TB) clustertest.Network {
	return func(t testing.TB) clustertest.Network {
		net, err := transportmem.NewNetwork(transportmem.NetworkConfig{Faults: faults})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("transport-mem seed: %d", net.Seed())
			}
		})
		return clusterNetwork{net: net}
	}
}

func (c clusterNetwork) Peer(id uint64) raftcore.Peer {
	return raftcore.Peer{ID: id, Addr: fmt.Sprintf("mem-%d", id)}
}

func (c clusterNetwork) Transport(t testing.TB, id uint64) raftcore.Transport {
	tr, err := c.net.Transport(c.Peer(id))
	if err != nil {
		t.Fatalf("transport for node %d: %v", id, err)
	}
	return tr
}

func (c clusterNetwork) Partition(groups ...[]uint64) {
	for i := range groups {
		for j := i + 1; j < len(groups); j++ {
			c.net.Partition(groups[i], groups[j])
		}
	}
}

func (c clusterNetwork) Heal() { c.net.Heal() }

// TestClusterScenarios runs every engine scenario (3 and 5 nodes: election,
// replication, follower proposals, reads, leader kill and restart,
// partitions, membership under load, transfer, snapshot catch-up, graceful
// close, the bank) over transport-mem with in-memory stores.
func TestClusterScenarios(t *testing.T) {
	clustertest.Run(t, clustertest.Options{NewNetwork: newClusterNetwork(transportmem.Faults{})})
}

// TestClusterScenariosOnAFaultyNetwork runs them again with 2% loss, 2%
// duplication, 5% reordering and up to 2ms of jitter on every link.
func TestClusterScenariosOnAFaultyNetwork(t *testing.T) {
	faults := transportmem.Faults{Drop: 0.02, Duplicate: 0.02, Reorder: 0.05, Jitter: 2 * time.Millisecond}
	clustertest.Run(t, clustertest.Options{NewNetwork: newClusterNetwork(faults), Short: true})
}
