package kvstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Node is what the HTTP API needs from a raft node replicating a Machine.
// *raftcore.Node[Command, Result] implements it.
type Node interface {
	// Propose replicates cmd and returns its result once applied here.
	Propose(ctx context.Context, cmd Command) (Result, error)
	// Read runs fn once the local Machine reflects every committed write.
	Read(ctx context.Context, fn func() error) error
	// ReadStale runs fn against the local Machine as it is.
	ReadStale(fn func() error) error
	// Leader returns the id of the known leader, or 0.
	Leader() uint64
	// Status describes the node and its view of the cluster.
	Status() raftcore.Status
}

var _ Node = (*raftcore.Node[Command, Result])(nil)

// Defaults for HandlerConfig's zero values.
const (
	DefaultMaxValueSize   = 1 << 20
	DefaultMaxKeySize     = 4 << 10
	DefaultRequestTimeout = 5 * time.Second
	DefaultRetryAfter     = time.Second
	DefaultListLimit      = 1000
	DefaultMaxListLimit   = 10000
)

// HandlerConfig configures NewHandler. Zero values mean the documented
// defaults.
type HandlerConfig struct {
	// Node serves proposals and reads. Required.
	Node Node
	// Machine is the state machine Node replicates; reads look into it.
	// Required.
	Machine *Machine
	// MaxValueSize bounds a value in bytes; a larger body is refused with 413.
	// Default: 1 MiB.
	MaxValueSize int
	// MaxKeySize bounds a key in bytes. Default: 4 KiB.
	MaxKeySize int
	// RequestTimeout bounds each request's proposal or read; when it passes
	// the request fails with 504 (a write's outcome is then unknown).
	// Default: 5s.
	RequestTimeout time.Duration
	// RetryAfter is the Retry-After sent with 503 responses, rounded up to
	// whole seconds. Default: 1s.
	RetryAfter time.Duration
	// MaxListLimit bounds the limit parameter of listings. Default: 10000.
	MaxListLimit int
	// Logger receives unexpected errors, with the request id their 500
	// response carries. Default: discard.
	Logger *slog.Logger
	// Auth, when set, makes every route of the API require a credential:
	// GET and HEAD need ScopeRead, other methods ScopeReadWrite. Default:
	// nil, every request is allowed.
	Auth *Auth
}

func (c HandlerConfig) withDefaults() HandlerConfig {
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.MaxKeySize == 0 {
		c.MaxKeySize = DefaultMaxKeySize
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MaxListLimit == 0 {
		c.MaxListLimit = DefaultMaxListLimit
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c HandlerConfig) Validate() error {
	switch {
	case c.Node == nil:
		return fmt.Errorf("%w: HandlerConfig.Node is required", ErrInvalidConfig)
	case c.Machine == nil:
		return fmt.Errorf("%w: HandlerConfig.Machine is required", ErrInvalidConfig)
	case c.MaxValueSize < 0, c.MaxKeySize < 0, c.MaxListLimit < 0:
		return fmt.Errorf("%w: HandlerConfig sizes must not be negative", ErrInvalidConfig)
	case c.MaxKeySize > maxDecodedKey:
		return fmt.Errorf("%w: HandlerConfig.MaxKeySize %d is over %d", ErrInvalidConfig, c.MaxKeySize, maxDecodedKey)
	case c.MaxValueSize > maxDecodedValue:
		return fmt.Errorf("%w: HandlerConfig.MaxValueSize %d is over %d", ErrInvalidConfig, c.MaxValueSize, maxDecodedValue)
	case c.RequestTimeout < 0, c.RetryAfter < 0:
		return fmt.Errorf("%w: HandlerConfig durations must not be negative", ErrInvalidConfig)
	}
	return nil
}

// Handler serves the HTTP API:
//
//	PUT    /v1/kv/{key}[?if_version=V]   200 {"index": N}; 412 on version mismatch
//	GET    /v1/kv/{key}[?consistency=stale]  200 raw value, X-Version header; 404
//	DELETE /v1/kv/{key}[?if_version=V]   200 {"index": N, "deleted": bool}
//	GET    /v1/kv?prefix=P&limit=N[&consistency=stale]  200 {"keys": [...], "more": bool}
//	GET    /v1/status                    200 StatusResponse
//
// A PUT or DELETE with an Idempotency-Key header applies at most once per
// key; a retry gets the first answer (see idempotency.go).
//
// Errors are JSON ErrorResponse bodies: 400 bad key or parameter, 401
// without a valid credential and 403 with a read-only one for a write (when
// HandlerConfig.Auth is set), 404, 405, 412, 413 value over the size limit,
// 503 with Retry-After when there is no leader or quorum, 504 when the
// request timed out, and 500 for an unexpected error: its body carries a
// request id, which the log line with the error also carries, and no
// internal detail.
type Handler struct {
	cfg HandlerConfig
	mux *http.ServeMux
}

// NewHandler returns the API handler. It returns an error wrapping
// ErrInvalidConfig for a bad cfg.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg.withDefaults(), mux: http.NewServeMux()}
	h.Register(h.mux)
	return h, nil
}

// Register mounts the API's routes on mux, so that other handlers (metrics,
// health) can share it. It panics, as http.ServeMux does, on a conflict.
func (h *Handler) Register(mux *http.ServeMux) {
	auth := h.cfg.Auth
	mux.Handle("/v1/kv/{key...}", auth.Require(http.HandlerFunc(h.serveKey)))
	mux.Handle("/v1/kv", auth.Require(http.HandlerFunc(h.serveList)))
	mux.Handle("/v1/status", auth.Require(http.HandlerFunc(h.serveStatus)))
}

// ServeHTTP serves the API's routes, and a JSON 404 for any other path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		NotFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// NotFound writes the API's JSON 404 response.
func NotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
}

// Error codes of ErrorResponse.
const (
	CodeBadRequest       = "bad_request"
	CodeInvalidKey       = "invalid_key"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeBadHost          = "bad_host"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeVersionMismatch  = "version_mismatch"
	CodeTooLarge         = "too_large"
	CodeUnavailable      = "unavailable"
	CodeTimeout          = "timeout"
	CodeInternal         = "internal"
)

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// RequestID, on a 500, names the log line that holds the error.
	RequestID string `json:"request_id,omitempty"`
}

// WriteResponse is the body of a successful PUT or DELETE.
type WriteResponse struct {
	// Index is the log index of the write: the key's new version after a put.
	Index uint64 `json:"index"`
	// Deleted reports, for a DELETE, whether the key existed.
	Deleted *bool `json:"deleted,omitempty"`
	// Duplicate: a write with the same Idempotency-Key applied before;
	// this is its answer.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ListResponse is the body of GET /v1/kv.
type ListResponse struct {
	Keys []KeyVersion `json:"keys"`
	// More is true when more keys matched than the limit allowed.
	More bool `json:"more"`
}

// StatusResponse is the body of GET /v1/status.
type StatusResponse struct {
	ID           uint64         `json:"id"`
	Role         string         `json:"role"`
	Leader       uint64         `json:"leader"`
	Term         uint64         `json:"term"`
	CommitIndex  uint64         `json:"commit_index"`
	AppliedIndex uint64         `json:"applied_index"`
	Members      []MemberStatus `json:"members"`
	// Version is the build's Version.
	Version string `json:"version"`
}

// MemberStatus describes one member in StatusResponse. Match is only known
// on the leader; elsewhere it is 0.
type MemberStatus struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	Role    string `json:"role"`
	Match   uint64 `json:"match"`
}

func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(w, r, key)
	case http.MethodPut:
		h.put(w, r, key)
	case http.MethodDelete:
		h.del(w, r, key)
	default:
		methodNotAllowed(w, r, "GET, HEAD, PUT, DELETE")
	}
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request, key string) {
	if !h.validKey(w, key) {
		return
	}
	cmd := Command{Op: OpPut, Key: key}
	if !parseIfVersion(w, r, &cmd) {
		return
	}
	if r.ContentLength > int64(h.cfg.MaxValueSize) {
		h.tooLarge(w, r.ContentLength)
		return
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.cfg.MaxValueSize)))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.tooLarge(w, -1)
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "read body: "+err.Error())
		return
	}
	cmd.Value = value
	h.write(w, r, cmd)
}

func (h *Handler) del(w http.ResponseWriter, r *http.Request, key string) {
	if !h.validKey(w, key) {
		return
	}
	cmd := Command{Op: OpDelete, Key: key}
	if !parseIfVersion(w, r, &cmd) {
		return
	}
	h.write(w, r, cmd)
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, cmd Command) {
	if !idempotencyKey(w, r, &cmd) {
		return
	}
	if h.noLeader(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	res, err := h.cfg.Node.Propose(ctx, cmd)
	if err != nil {
		h.writeNodeError(w, r, err, true)
		return
	}
	if !res.Applied {
		writeError(w, http.StatusPreconditionFailed, CodeVersionMismatch,
			fmt.Sprintf("key %q is at version %d, not %d", cmd.Key, res.PrevVersion, cmd.IfVersion))
		return
	}
	resp := WriteResponse{Index: res.Index, Duplicate: res.Duplicate}
	if cmd.Op == OpDelete {
		resp.Deleted = &res.Existed
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, key string) {
	if !h.validKey(w, key) {
		return
	}
	var (
		entry Entry
		found bool
	)
	err := h.read(w, r, func() error {
		entry, found = h.cfg.Machine.Get(key)
		return nil
	})
	if err != nil {
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("key %q not found", key))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Version", strconv.FormatUint(entry.Version, 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(entry.Value)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(entry.Value)
	}
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	q := r.URL.Query()
	limit := DefaultListLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.cfg.MaxListLimit {
			writeError(w, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("limit must be a number from 1 to %d", h.cfg.MaxListLimit))
			return
		}
		limit = n
	}
	limit = min(limit, h.cfg.MaxListLimit)
	prefix := q.Get("prefix")
	var resp ListResponse
	if err := h.read(w, r, func() error {
		resp.Keys, resp.More = h.cfg.Machine.List(prefix, limit)
		return nil
	}); err != nil {
		return
	}
	if resp.Keys == nil {
		resp.Keys = []KeyVersion{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// read runs fn as the request's consistency parameter asks; on failure it
// has written the error response.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, fn func() error) error {
	switch c := r.URL.Query().Get("consistency"); c {
	case "stale":
		err := h.cfg.Node.ReadStale(fn)
		if err != nil {
			h.writeNodeError(w, r, err, false)
		}
		return err
	case "", "linearizable":
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("consistency %q: want linearizable (the default) or stale", c))
		return errors.New("bad consistency")
	}
	if h.noLeader(w) {
		return raftcore.ErrProposalDropped
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	err := h.cfg.Node.Read(ctx, fn)
	if err != nil {
		h.writeNodeError(w, r, err, false)
	}
	return err
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	writeJSON(w, http.StatusOK, StatusOf(h.cfg.Node.Status()))
}

// StatusOf converts a node's Status to its JSON form.
func StatusOf(st raftcore.Status) StatusResponse {
	out := StatusResponse{
		ID:           st.ID,
		Role:         st.Role.String(),
		Leader:       st.Leader,
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		Members:      make([]MemberStatus, 0, len(st.Members)),
		Version:      Version,
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, MemberStatus{ID: m.ID, Address: m.Addr, Role: string(m.Role), Match: m.Match})
	}
	return out
}

func (h *Handler) validKey(w http.ResponseWriter, key string) bool {
	if err := ValidateKey(key, h.cfg.MaxKeySize); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidKey, err.Error())
		return false
	}
	return true
}

func parseIfVersion(w http.ResponseWriter, r *http.Request, cmd *Command) bool {
	q := r.URL.Query()
	if !q.Has("if_version") {
		return true
	}
	v, err := strconv.ParseUint(q.Get("if_version"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "if_version must be a non-negative integer")
		return false
	}
	cmd.Conditional, cmd.IfVersion = true, v
	return true
}

// noLeader answers 503 at once when no leader is known: proposals would be
// dropped and reads would wait for the whole timeout.
func (h *Handler) noLeader(w http.ResponseWriter) bool {
	if h.cfg.Node.Leader() != 0 {
		return false
	}
	h.unavailable(w, "no leader: the cluster is electing one or has lost its quorum")
	return true
}

func (h *Handler) unavailable(w http.ResponseWriter, msg string) {
	secs := int((h.cfg.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable, msg)
}

func (h *Handler) tooLarge(w http.ResponseWriter, size int64) {
	msg := fmt.Sprintf("value is over the limit of %d bytes", h.cfg.MaxValueSize)
	if size > 0 {
		msg = fmt.Sprintf("value of %d bytes is over the limit of %d bytes", size, h.cfg.MaxValueSize)
	}
	writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, msg)
}

// writeNodeError maps an error of the raft node to a response.
func (h *Handler) writeNodeError(w http.ResponseWriter, r *http.Request, err error, write bool) {
	var notLeader *raftcore.NotLeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg := "timed out"
		if write {
			msg = "timed out; the write may still be applied"
		}
		writeError(w, http.StatusGatewayTimeout, CodeTimeout, msg)
	case errors.Is(err, context.Canceled):
		// The client went away; it reads no response.
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "request canceled")
	case errors.Is(err, raftcore.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, err.Error())
	case errors.Is(err, raftcore.ErrProposalDropped), errors.Is(err, raftcore.ErrBusy),
		errors.Is(err, raftcore.ErrStopped), errors.Is(err, raftcore.ErrRemoved),
		errors.As(err, &notLeader):
		h.unavailable(w, err.Error())
	default:
		h.internalError(w, r, err)
	}
}

// internalError logs err under a new request id and answers 500 with that
// id and no detail of err, which may describe the node's internals.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := newRequestID()
	h.cfg.Logger.Error("kvstore: request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("X-Request-Id", id)
	writeJSON(w, http.StatusInternalServerError, ErrorResponse{
		Error:     "internal error; the server's log has its details under request id " + id,
		Code:      CodeInternal,
		RequestID: id,
	})
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract since Go 1.24)
	return hex.EncodeToString(b[:])
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, allow))
}

// WriteError writes an error response in the API's form, for handlers
// mounted next to it.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, code, msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a client that went away reads nothing
}
