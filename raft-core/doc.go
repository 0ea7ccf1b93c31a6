// Package raftcore is jangada's Raft engine: go.etcd.io/raft/v3 driven with
// asynchronous storage writes, plus the small interfaces every other module
// plugs into (Transport, LogStore, SnapshotStore, StateMachine, Codec).
//
// A Node replicates a StateMachine[C, R]. Propose works on any member and
// returns the result of applying the caller's own command; Read is
// linearizable (ReadIndex), ReadStale is local. Membership changes, leadership
// transfer, automatic snapshots with log compaction, snapshot streaming to
// far-behind members, events and graceful shutdown are built in.
//
//	node, err := raftcore.Start(ctx, raftcore.Config{
//		NodeID:        1,
//		Peers:         []raftcore.Peer{{ID: 1, Addr: "a"}, {ID: 2, Addr: "b"}, {ID: 3, Addr: "c"}},
//		Preset:        raftcore.Production,
//		Transport:     transport,              // transport-mem or transport-quic
//		LogStore:      raftcore.NewMemoryLogStore(), // or store-pebble, store-badger
//		SnapshotStore: raftcore.NewMemorySnapshotStore(),
//	}, kv, codec.JSON[Command]{})
//	res, err := node.Propose(ctx, Command{Op: "put", Key: "hello", Value: "world"})
//	err = node.Read(ctx, func() error { v = kv.Get("hello"); return nil })
//	err = node.Close(ctx)
//
// Client sessions (Sessions, SessionClient) make a client's retries safe:
// a command tagged with a session and sequence number, or an idempotency
// key, applies at most once however many times and through however many
// nodes it is sent, and every copy gets the first apply's result. The
// guarantee and its limits are spelled out in session.go and on Sessions.
//
// The engine's roles (raft, log writer, applier) can also be stepped by hand
// with a Stepper, which the deterministic simulator in raft-core/sim uses.
// Sub-packages: clustertest (cluster scenarios every transport and store
// runs), storetest and transporttest (conformance suites).
package raftcore
