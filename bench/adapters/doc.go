// Package adapters implements harness.System for every system the benchmark
// compares: jangada with each transport and store (and the fsync-floor
// store), hashicorp/raft over TCP with boltdb or in-memory stores, and a
// bare etcd-raft loop; plus KVCluster, the kvstore application's library and
// HTTP APIs on one jangada cluster. Systems lists them in report order.
package adapters
