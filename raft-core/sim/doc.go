// Package sim is jangada's deterministic cluster simulation. It runs several
// raft-core engines (through raftcore.Stepper) on one goroutine and a
// virtual clock, with a seeded scheduler deciding when every message,
// disk write and apply happens, so one seed always replays one history.
//
// A run drives virtual clients against a replicated key-value store (put,
// linearizable get, stale get, delete, compare-and-swap, unique values)
// while nemeses partition, drop, delay, duplicate and reorder messages,
// crash nodes (losing what they had not synced), slow their disks, move
// leadership (and keep the old leader from hearing of it), change
// membership, snapshot under load, wipe machines, restart nodes while
// answers to their previous incarnation are in flight, stall a node's
// applier so that it catches up by a snapshot over unapplied membership
// changes, freeze processes (lost ticks, a jumping clock), replay stale
// snapshots, play a hostile member sending messages no honest node
// sends, and make a node's disk fail reads of its log for a while (the node
// must stop cleanly, raftcore.Stepper.Err, and restart from its disk once
// it can read it again). Clients write in client sessions
// (raftcore.Sessions) and retry a write through another node when an
// attempt fails or goes unanswered; the store must apply each write at most
// once however many copies commit.
// Lease reads are on in every other seed (Config.Lease). Faults heal
// at the end of the run's Duration; the cluster must then commit a write and
// converge. Throughout, it checks election safety, log matching, leader
// completeness, state-machine safety, that raft's own configuration is the
// one the engine applied (and every node's the same at an applied index),
// that every honest message passes the engine's peer checks, that each
// client write applies at one index only (exactly once), and at the end
// the linearizability of the client history with porcupine.
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
// Config.Bugs injects known bugs to show that the checks catch them:
// BugStaleRead, BugAckBeforeFsync and BugNoSessions (retries without a
// session) in the simulated clients and disks, and
// bugs the engine once had (BugMembershipReapply, BugReadCtxReuse,
// BugLeaseDuringTransfer, BugReadPanic) through raftcore.Stepper.InjectFault.
// A panic that escapes a node's engine, which would crash a real node's
// process, is reported as a violation of that seed. The command
// raft-core/sim/cmd/simulate runs ranges of seeds.
//
// etcd raft draws election timeouts from crypto/rand.Reader; a run replaces
// that process-wide reader with a seeded one while it simulates, so runs in
// one process take turns (their linearizability checks overlap).
package sim
