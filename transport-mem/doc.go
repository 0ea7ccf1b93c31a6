// Package transportmem is an in-process network for jangada nodes: each node
// gets a Transport (raftcore.Transport and raftcore.StreamTransport) on a
// shared Network, which can drop, delay, duplicate and reorder messages and
// partition nodes, all driven by one seed.
//
//	net, _ := transportmem.NewNetwork(transportmem.NetworkConfig{Seed: 42})
//	t1, _ := net.Transport(raftcore.Peer{ID: 1})
//	t2, _ := net.Transport(raftcore.Peer{ID: 2})
//	_ = t1.AddPeer(t2.Peer())
//	_ = t2.AddPeer(t1.Peer())
//	_ = t1.Start(engine1) // raftcore.Handler
//	_ = t2.Start(engine2)
//	net.SetLinkFaults(1, 2, transportmem.Faults{Drop: 0.1, Delay: time.Millisecond})
//	net.Partition([]uint64{1}, []uint64{2})
//	net.Heal()
//	fmt.Println(net.LinkStats(1, 2)) // sent, duplicated, delivered, dropped
//
// Messages travel like they would between processes: every peer has a bounded
// queue drained by its own goroutine, receivers get clones of what was sent,
// Send never blocks and drops on overflow (reporting the peer unreachable),
// and messages on a link keep their order unless a fault reorders them.
// Snapshots and streams flow through bounded in-memory pipes; a partition
// fails them, even mid-transfer.
//
// Fault decisions are drawn from a generator per link seeded by
// NetworkConfig.Seed, so a seed replays the same decisions for the same
// messages on each link. Goroutine scheduling still decides how deliveries on
// different links interleave; for fully deterministic runs, use the raftcore
// simulator.
package transportmem
