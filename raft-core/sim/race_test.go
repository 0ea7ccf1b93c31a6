//go:build race

package sim

// raceEnabled: the race detector slows the simulation about tenfold, so the
// sweeps run fewer seeds.
const raceEnabled = true
