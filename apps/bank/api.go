package bank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Node is the raft node as the API uses it.
type Node interface {
	Propose(ctx context.Context, cmd SessionCommand) (SessionResult, error)
	Read(ctx context.Context, fn func() error) error
	Status() raftcore.Status
}

// IdempotencyKeyHeader names the request header whose value makes a write
// apply at most once: a retry of the request with the same key, through any
// node, gets the first request's response (see raftcore.Sessions for how
// long a key is remembered).
const IdempotencyKeyHeader = "Idempotency-Key"

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 256

// HandlerConfig configures the HTTP API.
type HandlerConfig struct {
	Node    Node
	Machine *Machine
	// RequestTimeout bounds one request's proposal or read. The default is
	// kvstore.DefaultRequestTimeout.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// Handler serves the bank's HTTP API:
//
//	POST /v1/accounts       {"id":"a","balance":100}       200 WriteResponse, 409 account_exists
//	POST /v1/transfers      {"from":"a","to":"b","amount":5} 200 WriteResponse, 409 insufficient_funds, 404 no_such_account
//	GET  /v1/accounts       200 AccountsResponse (linearizable, every balance at one index)
//	GET  /v1/accounts/{id}  200 AccountResponse (linearizable), 404
//	GET  /v1/status         200 kvstore.StatusResponse
//
// Writes honour the Idempotency-Key header. Errors have kvstore's error
// body ({"error","code"}); 503 means the node cannot serve the request now
// and 504 that its outcome is unknown: a write retried with the same
// Idempotency-Key applies at most once.
type Handler struct {
	cfg HandlerConfig
	mux *http.ServeMux
}

// Patterns are the http.ServeMux patterns Handler serves.
var Patterns = []string{"POST /v1/accounts", "POST /v1/transfers", "GET /v1/accounts", "GET /v1/accounts/{id}", "GET /v1/status"}

// NewHandler returns the API handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Node == nil || cfg.Machine == nil {
		return nil, fmt.Errorf("%w: the API needs a node and its machine", ErrInvalid)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = kvstore.DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1/accounts", h.createAccount)
	h.mux.HandleFunc("POST /v1/transfers", h.transfer)
	h.mux.HandleFunc("GET /v1/accounts", h.accounts)
	h.mux.HandleFunc("GET /v1/accounts/{id}", h.account)
	h.mux.HandleFunc("GET /v1/status", h.status)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// CreateAccountRequest is the body of POST /v1/accounts.
type CreateAccountRequest struct {
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
}

// TransferRequest is the body of POST /v1/transfers.
type TransferRequest struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

// WriteResponse is the body of a write's answer.
type WriteResponse struct {
	Outcome Outcome `json:"outcome"`
	// Index is the log index the write applied at.
	Index uint64 `json:"index"`
	// Balances of the accounts the write changed, just after it.
	Balances map[string]int64 `json:"balances,omitempty"`
	// Duplicate: a request with the same Idempotency-Key applied before;
	// this is its response.
	Duplicate bool `json:"duplicate,omitempty"`
}

// AccountsResponse is the body of GET /v1/accounts.
type AccountsResponse struct {
	// Index is the log index the balances are as of.
	Index    uint64           `json:"index"`
	Total    int64            `json:"total"`
	Accounts map[string]int64 `json:"accounts"`
}

// AccountResponse is the body of GET /v1/accounts/{id}.
type AccountResponse struct {
	Index   uint64 `json:"index"`
	ID      string `json:"id"`
	Balance int64  `json:"balance"`
}

// Error codes of the bank's API, beyond kvstore's.
const (
	CodeInsufficientFunds = string(InsufficientFunds)
	CodeNoSuchAccount     = string(NoSuchAccount)
	CodeAccountExists     = string(AccountExists)
)

const maxBody = 64 << 10

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request) {
	var req CreateAccountRequest
	if !decode(w, r, &req) {
		return
	}
	h.write(w, r, Command{Op: OpCreate, ID: req.ID, Amount: req.Balance})
}

func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	if !decode(w, r, &req) {
		return
	}
	h.write(w, r, Command{Op: OpTransfer, From: req.From, To: req.To, Amount: req.Amount})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		kvstore.WriteError(w, http.StatusBadRequest, kvstore.CodeBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		kvstore.WriteError(w, http.StatusBadRequest, kvstore.CodeBadRequest, "bad JSON body: trailing data")
		return false
	}
	return true
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, cmd Command) {
	if err := cmd.Validate(); err != nil {
		kvstore.WriteError(w, http.StatusBadRequest, kvstore.CodeBadRequest, err.Error())
		return
	}
	sc := SessionCommand{Op: raftcore.SessionNone, Cmd: cmd, Time: time.Now().UnixNano()}
	if key := r.Header.Get(IdempotencyKeyHeader); key != "" {
		if len(key) > MaxIdempotencyKey {
			kvstore.WriteError(w, http.StatusBadRequest, kvstore.CodeBadRequest, fmt.Sprintf("%s longer than %d bytes", IdempotencyKeyHeader, MaxIdempotencyKey))
			return
		}
		sc.Op, sc.Key = raftcore.SessionKeyed, key
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	res, err := h.cfg.Node.Propose(ctx, sc)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		h.nodeError(w, r, err, true)
		return
	}
	out := WriteResponse{Outcome: res.Value.Outcome, Index: res.Value.Index, Balances: res.Value.Balances, Duplicate: res.Duplicate}
	switch res.Value.Outcome {
	case OK:
		writeJSON(w, http.StatusOK, out)
	case InsufficientFunds:
		writeOutcome(w, http.StatusConflict, out, "insufficient funds")
	case AccountExists:
		writeOutcome(w, http.StatusConflict, out, "account exists")
	case NoSuchAccount:
		writeOutcome(w, http.StatusNotFound, out, "no such account")
	default:
		writeOutcome(w, http.StatusBadRequest, out, "invalid request")
	}
}

// OutcomeError is the body of a write refused by the bank: kvstore's error
// body with the write's outcome and index.
type OutcomeError struct {
	kvstore.ErrorResponse
	WriteResponse
}

func writeOutcome(w http.ResponseWriter, status int, out WriteResponse, msg string) {
	writeJSON(w, status, OutcomeError{ErrorResponse: kvstore.ErrorResponse{Error: msg, Code: string(out.Outcome)}, WriteResponse: out})
}

func (h *Handler) accounts(w http.ResponseWriter, r *http.Request) {
	var out AccountsResponse
	err := h.read(r, func() error {
		out.Accounts, out.Index = h.cfg.Machine.Accounts()
		return nil
	})
	if err != nil {
		h.nodeError(w, r, err, false)
		return
	}
	for _, b := range out.Accounts {
		out.Total += b
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	out := AccountResponse{ID: r.PathValue("id")}
	found := false
	err := h.read(r, func() error {
		out.Balance, found = h.cfg.Machine.Balance(out.ID)
		out.Index = h.cfg.Machine.index
		return nil
	})
	if err != nil {
		h.nodeError(w, r, err, false)
		return
	}
	if !found {
		kvstore.WriteError(w, http.StatusNotFound, CodeNoSuchAccount, "no such account")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) read(r *http.Request, fn func() error) error {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	return h.cfg.Node.Read(ctx, fn)
}

func (h *Handler) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, kvstore.StatusOf(h.cfg.Node.Status()))
}

// nodeError maps an error of the raft node to a response, as the key-value
// API does.
func (h *Handler) nodeError(w http.ResponseWriter, r *http.Request, err error, write bool) {
	var notLeader *raftcore.NotLeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg := "timed out"
		if write {
			msg = "timed out; the write may still be applied (retry with the same Idempotency-Key)"
		}
		kvstore.WriteError(w, http.StatusGatewayTimeout, kvstore.CodeTimeout, msg)
	case errors.Is(err, context.Canceled):
		kvstore.WriteError(w, http.StatusServiceUnavailable, kvstore.CodeUnavailable, "request canceled")
	case errors.Is(err, raftcore.ErrProposalDropped), errors.Is(err, raftcore.ErrBusy),
		errors.Is(err, raftcore.ErrStopped), errors.Is(err, raftcore.ErrRemoved),
		errors.As(err, &notLeader):
		w.Header().Set("Retry-After", "1")
		kvstore.WriteError(w, http.StatusServiceUnavailable, kvstore.CodeUnavailable, err.Error())
	default:
		h.cfg.Logger.Error("bank: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		kvstore.WriteError(w, http.StatusInternalServerError, kvstore.CodeInternal, "internal error; see the server's log")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
