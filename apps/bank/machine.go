package bank

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Op names what a Command does.
type Op string

// The operations of the bank.
const (
	OpCreate   Op = "create"   // open account ID with Amount
	OpDeposit  Op = "deposit"  // add Amount to ID
	OpWithdraw Op = "withdraw" // take Amount from ID, if it holds that much
	OpTransfer Op = "transfer" // move Amount from From to To, if From holds that much
)

// Command is what the bank's log holds.
type Command struct {
	Op     Op     `json:"op"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Amount int64  `json:"amount"`
}

// Outcome is how a command ended. Refusals are outcomes, not errors: they
// are replicated decisions, the same on every node.
type Outcome string

// The outcomes of a command.
const (
	OK                Outcome = "ok"
	InsufficientFunds Outcome = "insufficient_funds"
	NoSuchAccount     Outcome = "no_such_account"
	AccountExists     Outcome = "account_exists"
	Invalid           Outcome = "invalid"
)

// Result is what applying a Command returns.
type Result struct {
	Outcome Outcome `json:"outcome"`
	// Index is the log index the command applied at.
	Index uint64 `json:"index"`
	// Balances are the balances of the accounts the command touched, after
	// it (when it applied).
	Balances map[string]int64 `json:"balances,omitempty"`
}

// Limits of commands.
const (
	MaxIDLength = 128
	// MaxAmount bounds a single amount and every balance, so that no sum of
	// balances overflows.
	MaxAmount = 1 << 50
)

// Validate checks a command's shape; it returns an error wrapping
// ErrInvalid.
func (c Command) Validate() error {
	validID := func(id string) bool { return id != "" && len(id) <= MaxIDLength }
	switch {
	case c.Amount < 0 || c.Amount > MaxAmount:
		return fmt.Errorf("%w: amount %d out of [0, %d]", ErrInvalid, c.Amount, int64(MaxAmount))
	case c.Op == OpCreate || c.Op == OpDeposit || c.Op == OpWithdraw:
		if !validID(c.ID) {
			return fmt.Errorf("%w: account id must be 1 to %d bytes", ErrInvalid, MaxIDLength)
		}
		if c.Op != OpCreate && c.Amount == 0 {
			return fmt.Errorf("%w: amount must be positive", ErrInvalid)
		}
	case c.Op == OpTransfer:
		if !validID(c.From) || !validID(c.To) {
			return fmt.Errorf("%w: account ids must be 1 to %d bytes", ErrInvalid, MaxIDLength)
		}
		if c.From == c.To {
			return fmt.Errorf("%w: a transfer needs two accounts", ErrInvalid)
		}
		if c.Amount == 0 {
			return fmt.Errorf("%w: amount must be positive", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: unknown operation %q", ErrInvalid, c.Op)
	}
	return nil
}

// Machine is the bank's replicated state: account balances. Transfers are
// atomic and never leave a balance negative. Reads go through the raft
// node's Read (linearizable) or ReadStale, which exclude applies.
type Machine struct {
	accounts map[string]int64
	index    uint64 // the log index of the last command applied
}

var _ raftcore.StateMachine[Command, Result] = (*Machine)(nil)

// NewMachine returns a bank without accounts.
func NewMachine() *Machine { return &Machine{accounts: map[string]int64{}} }

// Apply implements raftcore.StateMachine.
func (m *Machine) Apply(index uint64, c Command) Result {
	m.index = index
	res := Result{Index: index}
	if c.Validate() != nil {
		res.Outcome = Invalid
		return res
	}
	switch c.Op {
	case OpCreate:
		if _, ok := m.accounts[c.ID]; ok {
			res.Outcome = AccountExists
			return res
		}
		m.accounts[c.ID] = c.Amount
		return m.done(res, c.ID)
	case OpDeposit:
		bal, ok := m.accounts[c.ID]
		switch {
		case !ok:
			res.Outcome = NoSuchAccount
		case bal+c.Amount > MaxAmount:
			res.Outcome = Invalid
		default:
			m.accounts[c.ID] = bal + c.Amount
			return m.done(res, c.ID)
		}
		return res
	case OpWithdraw:
		bal, ok := m.accounts[c.ID]
		switch {
		case !ok:
			res.Outcome = NoSuchAccount
		case bal < c.Amount:
			res.Outcome = InsufficientFunds
		default:
			m.accounts[c.ID] = bal - c.Amount
			return m.done(res, c.ID)
		}
		return res
	}
	from, okFrom := m.accounts[c.From]
	to, okTo := m.accounts[c.To]
	switch {
	case !okFrom || !okTo:
		res.Outcome = NoSuchAccount
	case from < c.Amount:
		res.Outcome = InsufficientFunds
	case to+c.Amount > MaxAmount:
		res.Outcome = Invalid
	default:
		m.accounts[c.From], m.accounts[c.To] = from-c.Amount, to+c.Amount
		return m.done(res, c.From, c.To)
	}
	return res
}

func (m *Machine) done(res Result, ids ...string) Result {
	res.Outcome = OK
	res.Balances = map[string]int64{}
	for _, id := range ids {
		res.Balances[id] = m.accounts[id]
	}
	return res
}

// Balance returns account id's balance. Call it inside Read or ReadStale.
func (m *Machine) Balance(id string) (int64, bool) {
	b, ok := m.accounts[id]
	return b, ok
}

// Accounts returns every balance and the log index they are as of. Call it
// inside Read or ReadStale.
func (m *Machine) Accounts() (map[string]int64, uint64) {
	return maps.Clone(m.accounts), m.index
}

// snapshot is the Machine's snapshot: JSON, whose maps are written in key
// order, so equal states give equal bytes.
type snapshot struct {
	Index    uint64           `json:"index"`
	Accounts map[string]int64 `json:"accounts"`
}

// Snapshot implements raftcore.StateMachine.
func (m *Machine) Snapshot(w io.Writer) error {
	return json.NewEncoder(w).Encode(snapshot{Index: m.index, Accounts: m.accounts})
}

// Restore implements raftcore.StateMachine.
func (m *Machine) Restore(r io.Reader) error {
	var s snapshot
	dec := json.NewDecoder(r)
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("%w: bank snapshot: %v", raftcore.ErrCorrupt, err)
	}
	if s.Accounts == nil {
		s.Accounts = map[string]int64{}
	}
	m.accounts, m.index = s.Accounts, s.Index
	return nil
}

// JSON encodes commands and results as JSON: the log's codec (with
// raftcore.SessionCodec around it) and the session state's result codec.
type JSON[T any] struct{}

// Encode implements raftcore.Codec.
func (JSON[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

// Decode implements raftcore.Codec.
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: %v", raftcore.ErrCorrupt, err)
	}
	return v, nil
}

// SessionCommand and SessionResult are what the bank's raft node
// replicates: commands in client sessions (raftcore.Sessions).
type (
	SessionCommand = raftcore.SessionCommand[Command]
	SessionResult  = raftcore.SessionResult[Result]
)

// NewSessionMachine returns m behind client sessions, and the codec of its
// commands: the state machine and codec of a bank node.
func NewSessionMachine(m *Machine) (*raftcore.Sessions[Command, Result], raftcore.Codec[SessionCommand]) {
	return raftcore.NewSessions[Command, Result](m, JSON[Result]{}, raftcore.SessionConfig{}),
		raftcore.SessionCodec[Command]{Inner: JSON[Command]{}}
}
