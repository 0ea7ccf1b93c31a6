package clustertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// KVCommand is a command of the KV state machine.
type KVCommand struct {
	Op    string `json:"op"` // "put", "del" or "cas"
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	// Expect is the value "cas" compares with ("" = key absent).
	Expect string `json:"expect,omitempty"`
	// Pad makes a command bigger, for snapshot and size tests.
	Pad []byte `json:"pad,omitempty"`
}

// KVResult is what applying a KVCommand returns.
type KVResult struct {
	Index uint64 // the entry's log index
	Prev  string // the value before the command
	OK    bool   // false when a cas did not match
}

// KV is a small deterministic key-value state machine.
type KV struct {
	Data map[string]string
}

// NewKV returns an empty KV.
func NewKV() *KV { return &KV{Data: map[string]string{}} }

// Apply implements raftcore.StateMachine.
func (s *KV) Apply(index uint64, c KVCommand) KVResult {
	prev, had := s.Data[c.Key]
	res := KVResult{Index: index, Prev: prev, OK: true}
	switch c.Op {
	case "put":
		s.Data[c.Key] = c.Value
	case "del":
		delete(s.Data, c.Key)
	case "cas":
		if (c.Expect == "" && had) || (c.Expect != "" && prev != c.Expect) {
			res.OK = false
		} else {
			s.Data[c.Key] = c.Value
		}
	default:
		res.OK = false
	}
	return res
}

// Snapshot implements raftcore.StateMachine.
func (s *KV) Snapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if err := json.NewEncoder(bw).Encode(s.Data); err != nil {
		return err
	}
	return bw.Flush()
}

// Restore implements raftcore.StateMachine.
func (s *KV) Restore(r io.Reader) error {
	data := map[string]string{}
	if err := json.NewDecoder(r).Decode(&data); err != nil {
		return fmt.Errorf("kv restore: %w", err)
	}
	s.Data = data
	return nil
}

// JSONCodec encodes commands as JSON.
type JSONCodec[C any] struct{}

// Encode implements raftcore.Codec.
func (JSONCodec[C]) Encode(c C) ([]byte, error) { return json.Marshal(c) }

// Decode implements raftcore.Codec.
func (JSONCodec[C]) Decode(b []byte) (C, error) {
	var c C
	err := json.Unmarshal(b, &c)
	return c, err
}

// Transfer moves Amount from one account to another, if funds allow.
type Transfer struct {
	From, To string
	Amount   int64
}

// Bank is the seed's bank example: balances that transfers move around,
// never creating or destroying money.
type Bank struct {
	Balances map[string]int64
}

// NewBank opens n accounts "acct-0".. with initial each.
func NewBank(n int, initial int64) *Bank {
	b := &Bank{Balances: map[string]int64{}}
	for i := range n {
		b.Balances[fmt.Sprintf("acct-%d", i)] = initial
	}
	return b
}

// Apply implements raftcore.StateMachine; it returns whether the transfer happened.
func (b *Bank) Apply(_ uint64, t Transfer) bool {
	if t.Amount <= 0 || t.From == t.To || b.Balances[t.From] < t.Amount {
		return false
	}
	if _, ok := b.Balances[t.To]; !ok {
		return false
	}
	b.Balances[t.From] -= t.Amount
	b.Balances[t.To] += t.Amount
	return true
}

// Total is the sum of all balances.
func (b *Bank) Total() int64 {
	var sum int64
	for _, v := range b.Balances {
		sum += v
	}
	return sum
}

// Accounts lists account names, sorted.
func (b *Bank) Accounts() []string {
	out := make([]string, 0, len(b.Balances))
	for k := range b.Balances {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Snapshot implements raftcore.StateMachine.
func (b *Bank) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(b.Balances) }

// Restore implements raftcore.StateMachine.
func (b *Bank) Restore(r io.Reader) error {
	m := map[string]int64{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return fmt.Errorf("bank restore: %w", err)
	}
	b.Balances = m
	return nil
}
