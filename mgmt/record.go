package mgmt

import "time"

// CallerNode is the Caller of the operations a node records as running on
// its own (RecordOperation), rather than served for a caller.
const CallerNode = "node"

// RecordOperation adds an operation this node ran on its own, not for a
// caller (a scheduled backup, for instance), to its event history as the
// calls it serves are: an EventCall whose Call has Caller CallerNode, Op
// op and, when err is not nil, Error. index is the log index the operation
// concerns, 0 for none. Event streams (jangadactl events) show it. After
// Close it does nothing.
func (s *Server) RecordOperation(op string, index uint64, err error) {
	c := &Call{Caller: CallerNode, Op: op}
	if err != nil {
		c.Error = err.Error()
	}
	s.log.Info("operation", "op", op, "index", index, "error", c.Error)
	s.history.append(historyEntry{ev: Event{Type: EventCall, Node: s.node.ID(), Time: time.Now().UTC(), Index: index, Call: c}})
}
