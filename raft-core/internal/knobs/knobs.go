// Package knobs holds settings of the engine that the deterministic
// simulator (raft-core/sim) turns to reach corner cases in a few seconds of
// virtual time. Nothing outside raft-core can import it, and production
// code never sets it.
package knobs

import "sync/atomic"

// DedupWindow, when non-zero, replaces how many proposal sequence numbers
// the engine remembers per proposing node. It is read when an engine is
// created. Every node of a cluster must use the same window: it is one of
// the rules by which each node decides, alike, which entries to apply.
var DedupWindow atomic.Uint64
