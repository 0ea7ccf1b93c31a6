package sim

import (
	"encoding/binary"
	"fmt"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The simulated clients send every write in a client session
// (raftcore.Sessions) and retry it, through another node, when an attempt
// fails or has no answer within attemptTimeout. The state machine must apply
// it at most once however many copies commit: the checker's exactly-once
// check (appliedCommand) sees every command the key-value machine applies.
// With BugNoSessions the clients retry the same way but without a session,
// and copies of a write apply twice.

type (
	sessionCommand = raftcore.SessionCommand[kvCommand]
	sessionResult  = raftcore.SessionResult[kvResult]
)

// attemptTimeout is how long a client waits for one attempt of a write
// before it sends the write again through another node.
const attemptTimeout = 250 * time.Millisecond

// newSessionMachine wraps kv in client sessions.
func newSessionMachine(kv *kvMachine) *raftcore.Sessions[kvCommand, kvResult] {
	return raftcore.NewSessions[kvCommand, kvResult](kv, kvResultCodec{}, raftcore.SessionConfig{})
}

// sessionCodec encodes the commands of the session machine.
var sessionCodec = raftcore.SessionCodec[kvCommand]{Inner: kvCodec{}}

// register opens c's session, retrying until a node answers, then runs then.
func (w *workload) register(c *client, then func()) {
	s := w.s
	nodes := s.runningNodes()
	if len(nodes) == 0 {
		s.sched.after(10*time.Millisecond, func() { w.register(c, then) })
		return
	}
	n := pick(s.sched, nodes)
	answered := false
	retry := func() {
		if !answered {
			answered = true
			s.sched.after(10*time.Millisecond, func() { w.register(c, then) })
		}
	}
	s.sched.after(attemptTimeout, retry)
	s.active = n
	n.stepper.Propose(sessionCommand{Op: raftcore.SessionRegister, Time: s.clock().UnixNano()}, func(r sessionResult, _ uint64, err error) {
		if err != nil {
			retry()
			return
		}
		if answered {
			return // a late registration: that session expires unused
		}
		answered = true
		c.session = r.Session
		s.trace.logf("client %d registered session %d", c.id, c.session)
		then()
	})
	n.pump()
}

// write sends cmd for op through n, and again through other nodes until an
// attempt answers or op ends (opTimeout).
func (w *workload) write(op *pendingOp, cmd kvCommand, n *simNode) {
	s, c := w.s, op.c
	c.seq++
	sc := sessionCommand{Op: raftcore.SessionCall, Session: c.session, Seq: c.seq, Acked: c.seq - 1, Cmd: cmd}
	if s.cfg.bug(BugNoSessions) {
		sc = sessionCommand{Op: raftcore.SessionNone, Cmd: cmd}
	}
	var attempt func(n *simNode)
	attempt = func(n *simNode) {
		moved := false
		again := func() {
			if moved || op.done {
				return
			}
			moved = true
			nodes := s.runningNodes()
			if len(nodes) == 0 {
				s.sched.after(10*time.Millisecond, func() { moved = false; w.retryOn(op, attempt) })
				return
			}
			next := pick(s.sched, nodes)
			s.trace.logf("client %d retries operation %d through node %d", c.id, cmd.ID, next.id)
			attempt(next)
		}
		s.sched.after(attemptTimeout, again)
		sc.Time = s.clock().UnixNano()
		s.active = n
		n.stepper.Propose(sc, func(r sessionResult, index uint64, err error) {
			if op.done {
				return
			}
			switch {
			case err != nil:
				// Not at once: a node without a leader refuses at once.
				s.sched.after(10*time.Millisecond, again)
			case r.Err != nil:
				// Refused without applying; an earlier copy may have.
				w.finish(op, kvOutput{Unknown: true})
			default:
				if !r.Duplicate {
					s.check.acknowledged(cmd.ID, index)
				}
				w.finish(op, kvOutput{OK: r.Value.OK, Found: r.Value.Found, Value: r.Value.Value})
			}
		})
		n.pump()
	}
	attempt(n)
}

// retryOn sends op's next attempt through a running node once there is one.
func (w *workload) retryOn(op *pendingOp, attempt func(*simNode)) {
	if op.done {
		return
	}
	nodes := w.s.runningNodes()
	if len(nodes) == 0 {
		w.s.sched.after(10*time.Millisecond, func() { w.retryOn(op, attempt) })
		return
	}
	attempt(pick(w.s.sched, nodes))
}

// kvResultCodec encodes kvResults for the session state in snapshots: a
// flags byte (OK, Found), then the value, length-prefixed.
type kvResultCodec struct{}

// Encode implements raftcore.Codec.
func (kvResultCodec) Encode(r kvResult) ([]byte, error) {
	b := []byte{byte(boolBit(r.OK) | boolBit(r.Found)<<1)}
	return appendString(b, r.Value), nil
}

// Decode implements raftcore.Codec.
func (kvResultCodec) Decode(data []byte) (kvResult, error) {
	if len(data) == 0 || data[0] > 3 {
		return kvResult{}, fmt.Errorf("%w: bad result flags", ErrCorrupt)
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n != uint64(len(data)-1-k) {
		return kvResult{}, fmt.Errorf("%w: bad result value", ErrCorrupt)
	}
	return kvResult{OK: data[0]&1 != 0, Found: data[0]&2 != 0, Value: string(data[1+k:])}, nil
}
