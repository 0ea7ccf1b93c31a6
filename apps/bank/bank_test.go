package bank_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/bank"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

func TestTransfersNeverOverdrawAndConserveMoney(t *testing.T) {
	m := bank.NewMachine()
	tests := []struct {
		cmd  bank.Command
		want bank.Outcome
	}{
		{bank.Command{Op: bank.OpCreate, ID: "a", Amount: 100}, bank.OK},
		{bank.Command{Op: bank.OpCreate, ID: "b"}, bank.OK},
		{bank.Command{Op: bank.OpCreate, ID: "a", Amount: 5}, bank.AccountExists},
		{bank.Command{Op: bank.OpTransfer, From: "a", To: "b", Amount: 60}, bank.OK},
		{bank.Command{Op: bank.OpTransfer, From: "a", To: "b", Amount: 41}, bank.InsufficientFunds},
		{bank.Command{Op: bank.OpTransfer, From: "a", To: "zz", Amount: 1}, bank.NoSuchAccount},
		{bank.Command{Op: bank.OpTransfer, From: "a", To: "a", Amount: 1}, bank.Invalid},
		{bank.Command{Op: bank.OpTransfer, From: "a", To: "b", Amount: -1}, bank.Invalid},
		{bank.Command{Op: bank.OpWithdraw, ID: "b", Amount: 61}, bank.InsufficientFunds},
		{bank.Command{Op: bank.OpWithdraw, ID: "b", Amount: 10}, bank.OK},
		{bank.Command{Op: bank.OpDeposit, ID: "a", Amount: 10}, bank.OK},
		{bank.Command{Op: "steal", ID: "a", Amount: 10}, bank.Invalid},
	}
	for i, tt := range tests {
		if got := m.Apply(uint64(i+1), tt.cmd); got.Outcome != tt.want || got.Index != uint64(i+1) {
			t.Fatalf("%+v: %+v, want %s", tt.cmd, got, tt.want)
		}
	}
	all, index := m.Accounts()
	if all["a"] != 50 || all["b"] != 50 || index != uint64(len(tests)) {
		t.Fatalf("balances %v at %d, want a=50 b=50 at %d", all, index, len(tests))
	}
	var snap bytes.Buffer
	if err := m.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored := bank.NewMachine()
	if err := restored.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got, gotIndex := restored.Accounts(); got["a"] != 50 || got["b"] != 50 || gotIndex != index {
		t.Fatalf("restored %v at %d", got, gotIndex)
	}
	if err := restored.Restore(strings.NewReader("{nope")); !errors.Is(err, raftcore.ErrCorrupt) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
}

// localNode applies proposals at once, in one process: the API's node
// without raft.
type localNode struct {
	mu    sync.Mutex
	sm    *raftcore.Sessions[bank.Command, bank.Result]
	index uint64
}

func (n *localNode) Propose(_ context.Context, cmd bank.SessionCommand) (bank.SessionResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	return n.sm.Apply(n.index, cmd), nil
}

func (n *localNode) Read(_ context.Context, fn func() error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fn()
}

func (n *localNode) Status() raftcore.Status {
	return raftcore.Status{ID: 1, Role: raftcore.RoleLeader}
}

// newServer serves the API of a local node; lose, when set, replaces the
// answer of a request it returns true for with a 504 (the answer lost,
// the write applied).
func newServer(t *testing.T, lose func(r *http.Request) bool) *bank.Client {
	m := bank.NewMachine()
	sm, _ := bank.NewSessionMachine(m)
	h, err := bank.NewHandler(bank.HandlerConfig{Node: &localNode{sm: sm}, Machine: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lose != nil && lose(r) {
			h.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, `{"error":"timed out","code":"timeout"}`, http.StatusGatewayTimeout)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := bank.NewClient(bank.ClientConfig{Endpoints: []string{srv.URL}, RetryPause: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAPIRefusalsAreTypedResults(t *testing.T) {
	c := newServer(t, nil)
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		if _, err := c.CreateAccount(ctx, id, 10, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateAccount(ctx, "a", 10, ""); !errors.Is(err, bank.ErrAccountExists) {
		t.Fatalf("second create: %v", err)
	}
	res, err := c.Transfer(ctx, "a", "b", 11, "")
	var apiErr *bank.APIError
	if !errors.Is(err, bank.ErrInsufficientFunds) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || res.Index == 0 {
		t.Fatalf("overdraft: %+v, %v; want 409 insufficient funds with the index", res, err)
	}
	if _, err := c.Transfer(ctx, "a", "nobody", 1, ""); !errors.Is(err, bank.ErrNoSuchAccount) {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := c.Transfer(ctx, "a", "b", 0, ""); !errors.Is(err, bank.ErrInvalid) {
		t.Fatalf("zero amount: %v", err)
	}
	if _, err := c.Account(ctx, "nobody"); !errors.Is(err, bank.ErrNoSuchAccount) {
		t.Fatalf("GET unknown account: %v", err)
	}
	if _, err := c.Transfer(ctx, "a", "b", 1, strings.Repeat("k", bank.MaxIdempotencyKey+1)); !errors.Is(err, bank.ErrInvalid) {
		t.Fatalf("long key: %v", err)
	}
	all, err := c.Accounts(ctx)
	if err != nil || all.Total != 20 || all.Accounts["a"] != 10 {
		t.Fatalf("accounts: %+v, %v", all, err)
	}
}

// TestRetriedTransferMovesMoneyOnce loses the answer of every transfer's
// first attempt: the client retries with the same Idempotency-Key and gets
// the first apply's answer; the money moves once. Without a key the client
// does not retry an open outcome.
func TestRetriedTransferMovesMoneyOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	c := newServer(t, func(r *http.Request) bool {
		key := r.Header.Get(bank.IdempotencyKeyHeader)
		if r.URL.Path != "/v1/transfers" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		first := !seen[key]
		seen[key] = true
		return first
	})
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		if _, err := c.CreateAccount(ctx, id, 100, bank.NewIdempotencyKey()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Transfer(ctx, "a", "b", 30, bank.NewIdempotencyKey())
	if err != nil || !res.Duplicate || res.Balances["b"] != 130 {
		t.Fatalf("retried transfer: %+v, %v; want the first apply's answer, flagged duplicate", res, err)
	}
	if _, err := c.Transfer(ctx, "a", "b", 30, ""); !bank.Retryable(err) {
		t.Fatalf("transfer without a key, answer lost: %v; want the open outcome returned", err)
	}
	all, err := c.Accounts(ctx)
	if err != nil || all.Accounts["b"] != 160 || all.Total != 200 {
		t.Fatalf("accounts %+v, %v; want b=160 (two transfers, each applied once), total 200", all, err)
	}
}
