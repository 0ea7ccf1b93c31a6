// Package harness is what the benchmark's parts share: the interfaces a
// system under test implements (System, Cluster, CatchUpCluster), the
// workloads that drive a cluster (Drive, Failover, CatchUp), the
// measurements (Recorder and Summary, Results and Row, CPU time, peak RSS,
// the fsync floor, CPU profile summaries) and the run's Config. It imports
// no system under test.
package harness
