// Package backup makes consistent online backups of a jangada cluster's
// state machine, keeps them in a Target (a local directory or S3-compatible
// object storage), verifies them, and restores them into the empty stores
// of a brand-new cluster.
//
// A backup is two objects under its name: state.zst, the state machine's
// own snapshot bytes, zstd-compressed, and manifest.json, written last,
// which describes it (index, term, membership, state-machine name, sizes
// and SHA-256 checksums, format version). A backup without a manifest is
// incomplete and never listed.
//
//	target, _ := backup.NewDirTarget("/var/backups/kv")
//	m, err := backup.Create(ctx, target, source, backup.CreateOptions{})
//	...
//	m, err = backup.Verify(ctx, target, m.Name, backup.VerifyOptions{Scratch: kvstore.NewMachine()})
//	...
//	// Offline, for each node of the new cluster, before its first start:
//	m, err = backup.Restore(ctx, target, "", backup.RestoreOptions{
//		StateMachine: "kvstore", LogStore: ls, SnapshotStore: ss, Voters: peers})
//
// Scheduler takes backups on a cron schedule on the leader only, retries a
// failed run and prunes old backups as a Retention says.
package backup
