package bank

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Endpoints are the nodes' HTTP addresses (host:port, or URLs with a
	// scheme). A request that a node cannot serve goes to the next.
	Endpoints []string
	// HTTPClient sends the requests. The default is a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Token, when set, is sent as a bearer token.
	Token string
	// RetryPause separates a failed attempt from the next. The default is
	// 100ms.
	RetryPause time.Duration
}

// Client talks to a bank cluster. Writes given an idempotency key are
// retried, through every endpoint in turn, until they have an answer or
// the context ends; each applies at most once. It is safe for concurrent
// use.
type Client struct {
	cfg       ClientConfig
	endpoints []string
	mu        sync.Mutex
	next      int
}

// APIError is an error answer of the API.
type APIError struct {
	Status int
	kvstore.ErrorResponse
}

func (e *APIError) Error() string {
	return fmt.Sprintf("bank: HTTP %d: %s (%s)", e.Status, e.ErrorResponse.Error, e.Code)
}

// Unwrap maps the bank's refusals to ErrInsufficientFunds,
// ErrNoSuchAccount, ErrAccountExists and ErrInvalid.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case CodeInsufficientFunds:
		return ErrInsufficientFunds
	case CodeNoSuchAccount:
		return ErrNoSuchAccount
	case CodeAccountExists:
		return ErrAccountExists
	case kvstore.CodeBadRequest, string(Invalid):
		return ErrInvalid
	}
	return nil
}

// Retryable reports whether err leaves the request's outcome open (a
// connection error, 503, 504): a write with an idempotency key may be sent
// again.
func Retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusGatewayTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// NewClient returns a client of the nodes at cfg.Endpoints.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrInvalid)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.RetryPause <= 0 {
		cfg.RetryPause = 100 * time.Millisecond
	}
	c := &Client{cfg: cfg}
	for _, e := range cfg.Endpoints {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		if _, err := url.Parse(e); err != nil {
			return nil, fmt.Errorf("%w: endpoint %q: %v", ErrInvalid, e, err)
		}
		c.endpoints = append(c.endpoints, strings.TrimRight(e, "/"))
	}
	if len(c.endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints", ErrInvalid)
	}
	return c, nil
}

// NewIdempotencyKey returns a random key for one write.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CreateAccount opens account id with balance. With a key, it is retried
// until it has an answer. It returns an error wrapping ErrAccountExists if
// the account exists (for a retried create: it may be this call's own,
// see WriteResponse.Duplicate on a success).
func (c *Client) CreateAccount(ctx context.Context, id string, balance int64, key string) (WriteResponse, error) {
	var out WriteResponse
	err := c.write(ctx, "/v1/accounts", CreateAccountRequest{ID: id, Balance: balance}, key, &out)
	return out, err
}

// Transfer moves amount from one account to another. With a key, it is
// retried until it has an answer and applies at most once. It returns an
// error wrapping ErrInsufficientFunds (nothing moved) or ErrNoSuchAccount.
func (c *Client) Transfer(ctx context.Context, from, to string, amount int64, key string) (WriteResponse, error) {
	var out WriteResponse
	err := c.write(ctx, "/v1/transfers", TransferRequest{From: from, To: to, Amount: amount}, key, &out)
	return out, err
}

// Accounts returns every balance, as of one log index (linearizable).
func (c *Client) Accounts(ctx context.Context) (AccountsResponse, error) {
	var out AccountsResponse
	err := c.read(ctx, "/v1/accounts", &out)
	return out, err
}

// Account returns one account's balance (linearizable).
func (c *Client) Account(ctx context.Context, id string) (AccountResponse, error) {
	var out AccountResponse
	err := c.read(ctx, "/v1/accounts/"+url.PathEscape(id), &out)
	return out, err
}

// Status returns the first endpoint's raft status.
func (c *Client) Status(ctx context.Context) (kvstore.StatusResponse, error) {
	var out kvstore.StatusResponse
	_, err := c.do(ctx, c.endpoints[0], http.MethodGet, "/v1/status", nil, "", &out)
	return out, err
}

func (c *Client) write(ctx context.Context, path string, body any, key string, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	for {
		_, err := c.do(ctx, c.endpoint(), http.MethodPost, path, data, key, out)
		if key == "" || !Retryable(err) {
			return err
		}
		if !c.pause(ctx) {
			return fmt.Errorf("bank: outcome unknown: %w (last attempt: %v)", ctx.Err(), err)
		}
	}
}

// read asks the endpoints in turn until one answers.
func (c *Client) read(ctx context.Context, path string, out any) error {
	for {
		_, err := c.do(ctx, c.endpoint(), http.MethodGet, path, nil, "", out)
		if !Retryable(err) {
			return err
		}
		if !c.pause(ctx) {
			return fmt.Errorf("bank: %w (last attempt: %v)", ctx.Err(), err)
		}
	}
}

// endpoint returns the endpoint to try; pause moves on to the next.
func (c *Client) endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints[c.next%len(c.endpoints)]
}

func (c *Client) pause(ctx context.Context) bool {
	c.mu.Lock()
	c.next++
	c.mu.Unlock()
	t := time.NewTimer(c.cfg.RetryPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) do(ctx context.Context, endpoint, method, path string, body []byte, key string, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, &apiErr.ErrorResponse) != nil || apiErr.Code == "" {
			apiErr.ErrorResponse = kvstore.ErrorResponse{Error: strings.TrimSpace(string(data)), Code: "http_" + fmt.Sprint(resp.StatusCode)}
		}
		// A refusal still carries the write's outcome and index.
		_ = json.Unmarshal(data, out)
		return resp.StatusCode, apiErr
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}
