// Package storetest is the conformance suite for raftcore.LogStore and
// raftcore.SnapshotStore implementations.
//
// Every implementation runs it from its own tests:
//
//	func TestLogStoreConformance(t *testing.T) {
//		storetest.RunLogStore(t, func(t *testing.T) (raftcore.LogStore, storetest.Reopen[raftcore.LogStore]) {
//			dir := t.TempDir()
//			open := func(t *testing.T) raftcore.LogStore {
//				s, err := mystore.Open(mystore.Config{Dir: dir})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//			return open(t), open
//		})
//	}
//
// The suite checks the etcd raft.Storage contract (ErrCompacted,
// ErrUnavailable, ErrSnapOutOfDate, the dummy entry at FirstIndex-1, the
// maxSize rule of Entries) and the additions of raftcore.LogStore (atomic Save
// with suffix truncation and snapshot installation, SetSnapshot, Compact,
// Close). It compares the store against a small reference model after every
// operation, including a seeded random sequence of operations, and, when the
// factory returns a Reopen function, checks that reopening the store preserves
// everything.
//
// Where the raftcore contract leaves a choice open, the suite follows etcd's
// MemoryStorage:
//   - a snapshot saved with Save replaces the whole log, including entries
//     after the snapshot's index, and one at or below the current snapshot
//     index returns raft.ErrSnapOutOfDate;
//   - SetSnapshot at or below the current snapshot index returns
//     raft.ErrSnapOutOfDate;
//   - entries handed to Save at or below the compaction point (FirstIndex-1,
//     after the snapshot of the same Save) are skipped: a snapshot covers them;
//   - Entries with hi beyond LastIndex+1 returns raft.ErrUnavailable (etcd's
//     MemoryStorage panics there; a store must not panic).
//
// Entries handed to Save that are not contiguous, or that would leave a gap
// after LastIndex, are rejected with an error and leave the store unchanged.
// Every object a store returns is the caller's to keep and modify, and a
// store keeps no reference to the objects it was given.
//
// Durable stores also share RunDataDir, RunKillDuringSaves (with CrashChildMain in TestMain), RunCorruption for stores built on raft-core/logkv, the random workload of NextOp and DiffState, DirStores for clustertest, and the Benchmark functions.
package storetest
