package adapters

import "github.com/jangada-io/jangada/bench/harness"

// Systems returns every system the harness knows, in report order.
func Systems() []harness.System {
	var out []harness.System
	for _, tr := range []string{"quic", "mem"} {
		for _, st := range []string{"pebble", "badger", "memory"} {
			out = append(out, JangadaSystem(tr, st))
		}
	}
	out = append(out, JangadaSystem("quic", "wal"), JangadaSystem("mem", "fsync"))
	out = append(out, hashicorpSystem(true), hashicorpSystem(false), etcdSystem(true), etcdSystem(false))
	out = append(out, ceilingSystems()...)
	return out
}
