package report

import (
	"fmt"
	"time"

	"github.com/jangada-io/jangada/bench/harness"
)

// Explanations decompose the headline gap into what each part costs, from
// figures of the same run: transport (QUIC vs in-memory), store (pebble vs
// memory), the engine without disk or network (jangada vs the bare loop),
// CPU per operation against the machine's CPUs, and the disk's fsync floor.
// They are stated only when a target is missed and the figures exist.
func (r *Report) Explanations() []string {
	missed := false
	for _, t := range r.Targets() {
		if t.Known && !t.Met {
			missed = true
		}
	}
	if !missed {
		return nil
	}
	var out []string
	w := func(system string, clients int) *harness.Row { return r.writeRow(system, clients) }
	pct := func(a, b float64) float64 { return (1 - a/b) * 100 }
	for _, c := range harness.TargetClients {
		q, t, j := w("ceiling/quic-go", c), w("ceiling/tls-tcp", c), w("ceiling/transport-quic", c)
		if q != nil && t != nil && j != nil {
			out = append(out, fmt.Sprintf("Transport ceiling, %d clients (one round trip of a 64 B message and its acknowledgement, batched, no raft): "+
				"bare quic-go %.0f ops/s (p50 %s), TLS 1.3 over TCP %.0f ops/s (p50 %s), transport-quic with raft messages %.0f ops/s (p50 %s): "+
				"transport-quic reaches %.0f%% of quic-go, and quic-go %.0f%% of TLS over TCP.",
				c, q.OpsPerSec, harness.FormatDuration(q.P50), t.OpsPerSec, harness.FormatDuration(t.P50), j.OpsPerSec, harness.FormatDuration(j.P50),
				j.OpsPerSec/q.OpsPerSec*100, q.OpsPerSec/t.OpsPerSec*100))
		}
	}
	for _, c := range []int{harness.HeadlineClients, 256} {
		qp, mp, qm, mm := w(harness.HeadlineJangada, c), w("jangada/mem+pebble", c), w("jangada/quic+memory", c), w("jangada/mem+memory", c)
		if qp != nil && mp != nil && mp.OpsPerSec > qp.OpsPerSec {
			out = append(out, fmt.Sprintf("Transport, %d clients: over the in-memory transport the same engine and store make %.0f ops/s; "+
				"QUIC (TLS 1.3 packet protection, UDP system calls, stream framing) takes %.0f%% of that away (%.0f ops/s).",
				c, mp.OpsPerSec, pct(qp.OpsPerSec, mp.OpsPerSec), qp.OpsPerSec))
		}
		if qp != nil && qm != nil && qm.OpsPerSec > qp.OpsPerSec {
			out = append(out, fmt.Sprintf("Store, %d clients: with the memory store, QUIC makes %.0f ops/s; pebble's synced WAL takes %.0f%% of that away.",
				c, qm.OpsPerSec, pct(qp.OpsPerSec, qm.OpsPerSec)))
		}
		if f, h := w(harness.FsyncFloorSystem, c), w(harness.HeadlineHashicorp, c); f != nil && h != nil && qp != nil {
			ratio := f.OpsPerSec / h.OpsPerSec
			verdict := ""
			if ratio < hashicorpGoal {
				verdict = fmt.Sprintf(" That is itself below the %.0f× goal in this run.", hashicorpGoal)
			}
			out = append(out, fmt.Sprintf("Store floor, %d clients: with a store that costs nothing but one fdatasync per Save (no database, no recovery) "+
				"and the in-memory transport, the engine makes %.0f ops/s = %.2f× hashicorp: roughly the most a durable store and transport could give this engine with %d closed-loop clients on this disk (not a strict bound: see the last section). "+
				"quic+pebble reaches %.0f%% of this floor.%s",
				c, f.OpsPerSec, ratio, c, qp.OpsPerSec/f.OpsPerSec*100, verdict))
		}
		if wal, h := w(harness.WALSystem, c), w(harness.HeadlineHashicorp, c); wal != nil && h != nil && qp != nil {
			out = append(out, fmt.Sprintf("Log store, %d clients: with store-wal (one record and one fdatasync per Save, in segments "+
				"that are overwritten, never grown) instead of pebble, QUIC makes %.0f ops/s = %.2f× hashicorp, %.2f× quic+pebble.",
				c, wal.OpsPerSec, wal.OpsPerSec/h.OpsPerSec, wal.OpsPerSec/qp.OpsPerSec))
		}
		if e, h := w(harness.HeadlineEtcd, c), w(harness.HeadlineHashicorp, c); e != nil && h != nil && qp != nil {
			out = append(out, fmt.Sprintf("Bare core, %d clients: the minimal etcd-raft loop (memory log, one plain WAL file with fdatasync, channels for a network) "+
				"makes %.0f ops/s = %.2f× hashicorp; quic+pebble makes %.0f%% of that.",
				c, e.OpsPerSec, e.OpsPerSec/h.OpsPerSec, qp.OpsPerSec/e.OpsPerSec*100))
		}
		if e := w("etcd-raft/chan+memory", c); mm != nil && e != nil {
			out = append(out, fmt.Sprintf("Engine alone, %d clients (no disk, no sockets): jangada %.0f ops/s vs the bare etcd-raft loop %.0f ops/s (%.2f×).",
				c, mm.OpsPerSec, e.OpsPerSec, mm.OpsPerSec/e.OpsPerSec))
		}
		if h := w(harness.HeadlineHashicorp, c); qp != nil && h != nil && qp.CPUPer1k() > 0 && h.CPUPer1k() > 0 {
			out = append(out, fmt.Sprintf("CPU, %d clients: jangada spends %.3f CPU-seconds per 1,000 writes, hashicorp %.3f (both for the whole 3-node cluster in one process). "+
				"With %d CPUs shared with other work (load average before the run: %s), throughput is bounded by CPU per write once the CPUs are busy; "+
				"before that, by how long each closed-loop client waits (fsyncs, round trips, scheduling: see the store floor).",
				c, qp.CPUPer1k(), h.CPUPer1k(), r.Machine.CPUs, r.LoadBefore))
		}
	}
	if j, h := w(harness.HeadlineJangada, 1), w(harness.HeadlineHashicorp, 1); j != nil && h != nil {
		floor := float64(max(r.Fsync.P50, time.Microsecond))
		out = append(out, fmt.Sprintf("Single client: one write waits for the leader's and a follower's fsync plus their round trip; "+
			"the disk's fsync floor here is p50 %s / p99 %s, and p50 write latency is %s for jangada (%.1f× the floor) and %s for hashicorp (%.1f×); "+
			"the rest is the follower round trip, the apply, and scheduling on this machine.",
			harness.FormatDuration(r.Fsync.P50), harness.FormatDuration(r.Fsync.P99), harness.FormatDuration(j.P50), float64(j.P50)/floor, harness.FormatDuration(h.P50), float64(h.P50)/floor))
		if wal := w(harness.WALSystem, 1); wal != nil && h.P50 > 0 {
			out[len(out)-1] += fmt.Sprintf(" With store-wal instead of pebble, p50 is %s (%.2f× hashicorp's, %.1f× the floor).",
				harness.FormatDuration(wal.P50), float64(wal.P50)/float64(h.P50), float64(wal.P50)/floor)
		}
	}
	for _, pr := range r.Profiles {
		if len(pr.ByArea) == 0 {
			continue
		}
		s := "CPU profile of " + pr.Scenario + ", largest areas:"
		for i, a := range pr.ByArea {
			if i == 5 {
				break
			}
			s += fmt.Sprintf(" %s %.0f%%;", a.Function, a.Flat*100)
		}
		out = append(out, s[:len(s)-1]+".")
	}
	return out
}
