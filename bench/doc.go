// Package bench is jangada's benchmark harness. It runs the same scenarios
// against jangada with every transport (QUIC, in-memory) and store (pebble,
// badger, memory), against hashicorp/raft (TCP, boltdb or in-memory) and
// against a bare etcd-raft loop (the ceiling of what the raft core allows),
// alternating between systems, each cluster in a process of its own (the
// command runs itself with -run-job; -in-process keeps them in one), and
// writes a Markdown report with tables, PNG charts and raw CSV. Every new
// cluster first takes a few seconds of unmeasured writes (-cluster-warmup,
// default 3s), so that each system is measured in its steady state rather
// than while its fresh process and store warm up. Transport
// ceilings measure one batched round trip without raft over bare quic-go,
// TLS 1.3 on TCP and transport-quic, so the report says how close
// transport-quic comes to what quic-go allows on the machine.
//
// Scenarios: writes and reads (ReadIndex, lease, stale) at 1 to 256
// concurrent clients and 64 B to 64 KiB commands; cluster sizes 3, 5 and 7;
// failover time after killing the leader; snapshot catch-up of a node that
// was down; CPU seconds per 1,000 operations and peak RSS; the library API
// against the kvstore HTTP API; and a CPU profile of jangada's headline
// scenario. Every report starts with the fsync floor of its disk (before and
// after the run), the CPUs' frequency and stolen time, then the targets:
// jangada's ratios to hashicorp/raft, to the bare loop and of its QUIC
// transport to the in-memory one, latency against the fsync floor, reads and
// CPU per write, measured
// over several alternating rounds (-target-rounds) with the spread of single
// rounds, since one short run on a shared machine can move a ratio by a
// quarter.
//
// From the repository root:
//
//	go run ./bench/cmd/bench -quick   # headline only, about 4 minutes
//	go run ./bench/cmd/bench -large-snapshot -results-md bench/RESULTS.md   # make bench, about 25 minutes
//
// The packages: bench plans the scenarios and runs them (Run, ParseFlags);
// bench/harness holds what a system must offer (System, Cluster,
// CatchUpCluster), the workloads that drive it (Drive, Failover, CatchUp),
// the measurements (Recorder, Results, CPU, RSS, fsync floor, profiles) and
// Config; bench/adapters implements harness.System for jangada, hashicorp/raft
// and the bare etcd-raft loop, and the kvstore API cluster; bench/report turns
// a run's harness.Results into the Markdown report, CSV and charts. Adapters
// and report import no bench package but harness.
//
// Or as a library:
//
//	cfg, err := bench.ParseFlags([]string{"-quick"}, os.Stderr)
//	// handle err
//	cfg.OutDir = "results"
//	report, err := bench.Run(ctx, cfg)
//	// handle err
//	ratio, ok := report.HeadlineRatio()
package bench
