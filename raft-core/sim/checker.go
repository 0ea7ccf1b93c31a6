package sim

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
)

// checker holds the invariants checked while the simulation runs: election
// safety, leader completeness, log matching and state-machine safety.
type checker struct {
	s *simulation
	// leaders maps each term to the one node seen leading it.
	leaders map[uint64]uint64
	// maxLeaderTerm is the highest term any node was seen leading.
	maxLeaderTerm uint64
	// appliedAt[i] is the entry first applied at index i by any node.
	appliedAt []appliedEntry
	// pendingCompleteness: node id -> term whose leader completeness is
	// checked once the node's log writer has caught up.
	pendingCompleteness map[uint64]uint64
	// opIndex maps each client operation applied to the index it applied at.
	opIndex map[uint64]uint64
	// acked lists the writes acknowledged to clients, with their index.
	acked []ackedWrite
	// confAt maps an applied index to the membership a node had there.
	confAt map[uint64]confSeen
}

type confSeen struct {
	node uint64
	conf string
}

type ackedWrite struct {
	op    uint64
	index uint64
}

type appliedEntry struct {
	known bool
	term  uint64
	hash  uint64
	node  uint64
	// commitBound: the entry was committed in a term no higher than this,
	// so every leader of a later term must hold it.
	commitBound uint64
}

func newChecker(s *simulation) *checker {
	return &checker{s: s, leaders: map[uint64]uint64{}, pendingCompleteness: map[uint64]uint64{}, opIndex: map[uint64]uint64{}, confAt: map[uint64]confSeen{}}
}

func entryHash(ent *raftpb.Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte{byte(ent.GetType())})
	h.Write(ent.GetData())
	return h.Sum64()
}

// observe checks election safety after a node did some work, and leader
// completeness once a new leader's log is on its disk.
func (c *checker) observe(n *simNode) {
	if n.stepper.Role() == raftcore.RoleLeader {
		term := n.stepper.Term()
		if other, ok := c.leaders[term]; !ok {
			c.leaders[term] = n.id
			c.maxLeaderTerm = max(c.maxLeaderTerm, term)
			c.pendingCompleteness[n.id] = term
			c.s.trace.record("leader", n.id, term)
			c.s.trace.logf("node %d is leader of term %d", n.id, term)
		} else if other != n.id {
			c.s.violationf("election safety: nodes %d and %d both lead term %d", other, n.id, term)
		}
	}
	if term, ok := c.pendingCompleteness[n.id]; ok && !n.persisting && len(n.persistQ) == 0 {
		delete(c.pendingCompleteness, n.id)
		c.leaderCompleteness(n, term)
	}
}

// leaderCompleteness: the leader of term must hold every entry committed in
// an earlier term (those below its compaction point are in its snapshot).
func (c *checker) leaderCompleteness(n *simNode, term uint64) {
	log := n.disk.MemoryLogStore // past any read fault
	first, _ := log.FirstIndex()
	last, _ := log.LastIndex()
	for i := first; i < uint64(len(c.appliedAt)); i++ {
		rec := c.appliedAt[i]
		if !rec.known || rec.commitBound >= term {
			continue
		}
		if i > last {
			c.s.violationf("leader completeness: leader %d of term %d lacks committed entry %d (term %d); its log ends at %d", n.id, term, i, rec.term, last)
			return
		}
		if t, err := log.Term(i); err == nil && t != rec.term {
			c.s.violationf("leader completeness: leader %d of term %d has term %d at committed index %d, which holds term %d", n.id, term, t, i, rec.term)
			return
		}
	}
}

// membership checks, whenever a node's configuration may have changed (a
// membership entry applied, a snapshot taken in by raft), that raft's own
// configuration is the one the engine applied, and that every node had the
// same one at the same applied index. It waits while raft holds a snapshot
// the log writer has not installed: raft takes the snapshot's configuration
// the moment it steps it, the engine when it installs it.
func (c *checker) membership(n *simNode) {
	rs := n.stepper.RaftSnapshotIndex()
	if !n.confDirty && rs == n.checkedRaftSnap {
		return
	}
	applied := n.stepper.AppliedIndex()
	if applied < rs {
		return
	}
	n.confDirty, n.checkedRaftSnap = false, rs
	rv, rl := n.stepper.RaftMembers()
	ev, el := n.stepper.Members()
	slices.Sort(ev)
	slices.Sort(el)
	if !slices.Equal(rv, ev) || !slices.Equal(rl, el) {
		c.s.violationf("membership: node %d at applied index %d: raft has voters=%v learners=%v, the engine voters=%v learners=%v", n.id, applied, rv, rl, ev, el)
		return
	}
	conf := fmt.Sprintf("voters=%v learners=%v", ev, el)
	if seen, ok := c.confAt[applied]; !ok {
		c.confAt[applied] = confSeen{node: n.id, conf: conf}
	} else if seen.conf != conf {
		c.s.violationf("membership: at applied index %d node %d has %s, node %d had %s", applied, n.id, conf, seen.node, seen.conf)
	}
}

// applied records that n applies ent, checking that every node applies the
// same entry at each index.
func (c *checker) applied(n *simNode, ent *raftpb.Entry) {
	if ent.GetType() != raftpb.EntryNormal {
		n.confDirty = true
	}
	idx := ent.GetIndex()
	h := entryHash(ent)
	c.s.trace.record("apply", n.id, idx, ent.GetTerm(), h)
	for uint64(len(c.appliedAt)) <= idx {
		c.appliedAt = append(c.appliedAt, appliedEntry{})
	}
	rec := c.appliedAt[idx]
	if !rec.known {
		c.appliedAt[idx] = appliedEntry{known: true, term: ent.GetTerm(), hash: h, node: n.id, commitBound: c.maxLeaderTerm}
		return
	}
	if rec.term != ent.GetTerm() || rec.hash != h {
		c.s.violationf("state machine safety: node %d applies term %d entry %x at index %d, node %d applied term %d entry %x", n.id, ent.GetTerm(), h, idx, rec.node, rec.term, rec.hash)
	}
}

// appliedCommand checks that each client operation takes effect once: at
// one index of the log, however many nodes apply it.
func (c *checker) appliedCommand(n *simNode, index uint64, cmd kvCommand) {
	first, ok := c.opIndex[cmd.ID]
	if !ok {
		c.opIndex[cmd.ID] = index
		return
	}
	if first != index {
		c.s.violationf("exactly once: node %d applies client operation %d (%v %s) at index %d; it was applied at index %d", n.id, cmd.ID, cmd.Op, cmd.Key, index, first)
	}
}

// acknowledged records a write acknowledged to its client at index.
func (c *checker) acknowledged(op, index uint64) {
	c.acked = append(c.acked, ackedWrite{op: op, index: index})
}

// noAcknowledgedWriteLost checks, once the members converged, that every
// acknowledged write is where it was acknowledged: applied at its index, and
// still the entry at that index in every member's log that holds it.
func (c *checker) noAcknowledgedWriteLost(members []*simNode) {
	for _, w := range c.acked {
		if got, ok := c.opIndex[w.op]; !ok || got != w.index {
			c.s.violationf("acknowledged write lost: operation %d was acknowledged at index %d, applied at %d", w.op, w.index, got)
			return
		}
		rec := c.appliedAt[w.index]
		for _, n := range members {
			log := n.disk.MemoryLogStore // past any read fault
			first, _ := log.FirstIndex()
			last, _ := log.LastIndex()
			if w.index < first || w.index > last {
				continue
			}
			ents, err := log.Entries(w.index, w.index+1, math.MaxUint64)
			if err != nil || len(ents) != 1 || ents[0].GetTerm() != rec.term || entryHash(ents[0]) != rec.hash {
				c.s.violationf("acknowledged write lost: node %d's log no longer holds operation %d at index %d", n.id, w.op, w.index)
				return
			}
		}
	}
}

// logMatching checks every pair of running nodes: where two logs hold an
// entry with the same index and term, they hold the same entries up to it.
func (c *checker) logMatching() {
	nodes := c.s.runningNodes()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := logsMatch(a.disk.MemoryLogStore, b.disk.MemoryLogStore); err != nil {
				c.s.violationf("log matching: nodes %d and %d: %v", a.id, b.id, err)
				return
			}
		}
	}
}

func logsMatch(a, b raftcore.LogStore) error {
	fa, _ := a.FirstIndex()
	fb, _ := b.FirstIndex()
	la, _ := a.LastIndex()
	lb, _ := b.LastIndex()
	lo, hi := max(fa, fb), min(la, lb)
	if lo > hi {
		return nil
	}
	ea, err := a.Entries(lo, hi+1, math.MaxUint64)
	if err != nil {
		return err
	}
	eb, err := b.Entries(lo, hi+1, math.MaxUint64)
	if err != nil {
		return err
	}
	match := -1
	for k := len(ea) - 1; k >= 0; k-- {
		if ea[k].GetTerm() == eb[k].GetTerm() {
			match = k
			break
		}
	}
	for k := 0; k <= match; k++ {
		if ea[k].GetTerm() != eb[k].GetTerm() || entryHash(ea[k]) != entryHash(eb[k]) {
			return fmt.Errorf("both hold index %d term %d, yet differ at index %d (terms %d and %d)", ea[match].GetIndex(), ea[match].GetTerm(), ea[k].GetIndex(), ea[k].GetTerm(), eb[k].GetTerm())
		}
	}
	return nil
}

// --- linearizability ---------------------------------------------------------

// kvInput is a client operation as the linearizability checker sees it.
type kvInput struct {
	Op     opKind
	Key    string
	Value  string
	Expect string
}

// kvOutput is its outcome. Unknown marks an operation whose outcome the
// client never learned (timed out, or its node crashed): it may or may not
// have taken effect, and its return time is infinite.
type kvOutput struct {
	Unknown bool
	OK      bool
	Found   bool
	Value   string
}

const unknownReturn = math.MaxInt64

// kvModel is the sequential specification of the store, one key at a time.
// The empty string is an absent key.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		cur, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.Op {
		case opPut:
			return true, in.Value
		case opDelete:
			return out.Unknown || out.Found == (cur != ""), ""
		case opCAS:
			swaps := cur != "" && cur == in.Expect
			if out.Unknown {
				if swaps {
					return true, in.Value
				}
				return true, cur
			}
			if swaps {
				return out.OK, in.Value
			}
			return !out.OK && out.Value == cur, cur
		case opGet:
			return out.Unknown || out.Value == cur, cur
		}
		return false, cur
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		var res string
		switch {
		case out.Unknown:
			res = "?"
		case in.Op == opGet:
			res = quoteValue(out.Value)
		case in.Op == opDelete:
			res = fmt.Sprintf("found=%v", out.Found)
		case in.Op == opCAS && !out.OK:
			res = "no, was " + quoteValue(out.Value)
		default:
			res = "ok"
		}
		switch in.Op {
		case opPut:
			return fmt.Sprintf("put(%s, %s) -> %s", in.Key, in.Value, res)
		case opCAS:
			return fmt.Sprintf("cas(%s, %s -> %s) -> %s", in.Key, in.Expect, in.Value, res)
		}
		return fmt.Sprintf("%v(%s) -> %s", in.Op, in.Key, res)
	},
	DescribeState: func(state any) string { return quoteValue(state.(string)) },
}

func quoteValue(v string) string {
	if v == "" {
		return "(absent)"
	}
	return v
}

// describeHistory renders the history for the readable trace.
func describeHistory(history []porcupine.Operation) string {
	var b strings.Builder
	for _, op := range history {
		ret := "never"
		if op.Return != unknownReturn {
			ret = fmt.Sprintf("%.6fs", float64(op.Return)/1e9)
		}
		fmt.Fprintf(&b, "client %3d  call %.6fs  return %-12s  %s\n", op.ClientId, float64(op.Call)/1e9, ret, kvModel.DescribeOperation(op.Input, op.Output))
	}
	return b.String()
}
