// Package sim is jangada's deterministic cluster simulation. It runs several
// raft-core engines (through raftcore.Stepper) on one goroutine and a
// virtual clock, with a seeded scheduler deciding when every message,
// disk write and apply happens, so one seed always replays one history.
//
// A run drives virtual clients against a replicated key-value store (put,
// linearizable get, stale get, delete, compare-and-swap, unique values)
// while nemeses partition, drop, delay, duplicate and reorder messages,
// crash nodes (losing what they had not synced), slow their disks, move
// leadership, change membership, snapshot under load and wipe machines.
// Faults heal at the end of the run's Duration; the cluster must then
// commit a write and converge. Throughout, it checks election safety, log
// matching, leader completeness and state-machine safety, and at the end the
// linearizability of the client history with porcupine.
//
//	res, err := sim.Run(ctx, sim.Config{
//		Seed:     42,
//		Nodes:    3,
//		Duration: 5 * time.Second, // virtual
//		Nemeses:  sim.AllNemeses,
//	})
//	if err != nil { ... }
//	fmt.Println(res) // PASS seed=42 ops=... faults=... linearizable=true trace=...
//	// A failing run wrote res.TraceFile and res.VisualizationFile.
//
// Config.Bugs injects known bugs (BugStaleRead, BugAckBeforeFsync) to show
// that the checks catch them. The command raft-core/sim/cmd/simulate runs
// ranges of seeds.
//
// etcd raft draws election timeouts from crypto/rand.Reader; a run replaces
// that process-wide reader with a seeded one while it simulates, so runs in
// one process take turns (their linearizability checks overlap).
package sim
