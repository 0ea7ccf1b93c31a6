package kvstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Endpoints are the nodes' HTTP addresses ("127.0.0.1:8001",
	// "http://127.0.0.1:8001" or "https://..."). An address without a
	// scheme is http, or https when TLS is set. Requests go to the first;
	// on a connection error or a 503 the next is tried. Required.
	Endpoints []string
	// HTTPClient sends the requests. Default: http.DefaultClient, or a
	// client of its own when TLS is set.
	HTTPClient *http.Client
	// Token, when set, is sent as "Authorization: Bearer Token".
	Token string
	// TLS configures a client of its own (RootCAs for a server certificate
	// of a private CA, Certificates for a client certificate) when
	// HTTPClient is nil. Default: nil, the system's roots.
	TLS *tls.Config
}

// Client calls the HTTP API of a kvstore cluster. Its methods return an
// *APIError for an error response (errors.Is matches ErrNotFound and
// ErrVersionMismatch), the context's error, or a connection error.
//
// A request that fails with a connection error or a 503 is sent to the next
// endpoint. Writes carry an idempotency key (WriteOptions.IdempotencyKey)
// and are also sent again after a 504, through every endpoint in turn for
// a few rounds while ctx lasts: each applies at most once (see the
// Idempotency-Key header in the README for how long a key is remembered).
// A write that still failed with a connection error, 503 or 504 may have
// applied.
type Client struct {
	endpoints []string
	http      *http.Client
	token     string
}

// APIError is an error response of the API.
type APIError struct {
	Status     int    // HTTP status code
	Code       string // ErrorResponse.Code
	Message    string // ErrorResponse.Error
	RetryAfter string // Retry-After header of a 503
	RequestID  string // ErrorResponse.RequestID of a 500
}

func (e *APIError) Error() string {
	return fmt.Sprintf("kvstore: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) and errors.Is(err, ErrVersionMismatch)
// match the API's 404 and 412 responses.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound && e.Code == CodeNotFound
	case ErrVersionMismatch:
		return e.Status == http.StatusPreconditionFailed
	}
	return false
}

// NewClient returns a Client. It returns an error wrapping ErrInvalidConfig
// when no endpoint is given or one does not parse.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: ClientConfig.Endpoints is empty", ErrInvalidConfig)
	}
	if strings.ContainsAny(cfg.Token, "\r\n") {
		return nil, fmt.Errorf("%w: ClientConfig.Token holds a line break", ErrInvalidConfig)
	}
	c := &Client{http: cfg.HTTPClient, token: cfg.Token}
	switch {
	case c.http != nil:
	case cfg.TLS != nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS.Clone()
		c.http = &http.Client{Transport: tr}
	default:
		c.http = http.DefaultClient
	}
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	for _, e := range cfg.Endpoints {
		e = strings.TrimSpace(e)
		if !strings.Contains(e, "://") {
			e = scheme + e
		}
		u, err := url.Parse(e)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: endpoint %q", ErrInvalidConfig, e)
		}
		c.endpoints = append(c.endpoints, strings.TrimRight(u.String(), "/"))
	}
	return c, nil
}

// CloseIdleConnections closes the idle connections of the Client's HTTP
// client.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// WriteOptions make a Put or Delete conditional.
type WriteOptions struct {
	// IfVersion, when Conditional, is the version the key must have (0:
	// absent) for the write to apply; otherwise it fails with an error
	// matching ErrVersionMismatch.
	IfVersion   uint64
	Conditional bool
	// IdempotencyKey is sent as the write's Idempotency-Key header, so that
	// the write applies at most once however often it is sent. Empty: a new
	// random key for each call.
	IdempotencyKey string
}

// Put sets key to value and returns the write's index (the key's version).
func (c *Client) Put(ctx context.Context, key string, value []byte, opts WriteOptions) (uint64, error) {
	var resp WriteResponse
	err := c.write(ctx, http.MethodPut, keyPath(key), writeQuery(opts), value, opts.IdempotencyKey, &resp)
	return resp.Index, err
}

// Delete removes key and returns the write's index and whether it existed.
func (c *Client) Delete(ctx context.Context, key string, opts WriteOptions) (index uint64, existed bool, err error) {
	var resp WriteResponse
	err = c.write(ctx, http.MethodDelete, keyPath(key), writeQuery(opts), nil, opts.IdempotencyKey, &resp)
	return resp.Index, resp.Deleted != nil && *resp.Deleted, err
}

// Get returns key's value and version. stale reads the node's local state
// without a quorum round. An absent key is an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, key string, stale bool) (value []byte, version uint64, err error) {
	q := url.Values{}
	if stale {
		q.Set("consistency", "stale")
	}
	var raw []byte
	h, err := c.do(ctx, http.MethodGet, keyPath(key), q, nil, &raw)
	if err != nil {
		return nil, 0, err
	}
	version, err = strconv.ParseUint(h.Get("X-Version"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("kvstore: response without a valid X-Version header")
	}
	return raw, version, nil
}

// List returns up to limit (0: the server's default) keys starting with
// prefix, and whether more matched.
func (c *Client) List(ctx context.Context, prefix string, limit int, stale bool) (ListResponse, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if stale {
		q.Set("consistency", "stale")
	}
	var resp ListResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/kv", q, nil, &resp)
	return resp, err
}

// Status returns the status of the first endpoint that answers.
func (c *Client) Status(ctx context.Context) (StatusResponse, error) {
	var resp StatusResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &resp)
	return resp, err
}

func keyPath(key string) string { return "/v1/kv/" + url.PathEscape(key) }

func writeQuery(opts WriteOptions) url.Values {
	if !opts.Conditional {
		return nil
	}
	return url.Values{"if_version": {strconv.FormatUint(opts.IfVersion, 10)}}
}

// do sends the request to each endpoint in turn until one answers with
// something other than 503. out is a *[]byte for raw bodies or a JSON target.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) (http.Header, error) {
	var lastErr error
	for _, ep := range c.endpoints {
		u := ep + path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		h, err := c.once(ctx, method, u, body, "", out)
		if err == nil {
			return h, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable {
			break
		}
	}
	return nil, lastErr
}

// maxResponseSize bounds what the client reads from one response.
const maxResponseSize = 64 << 20

func (c *Client) once(ctx context.Context, method, u string, body []byte, key string, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if key != "" {
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	if method == http.MethodPut {
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return nil, fmt.Errorf("kvstore: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := &APIError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
		var er ErrorResponse
		if json.Unmarshal(data, &er) == nil && er.Code != "" {
			apiErr.Code, apiErr.Message, apiErr.RequestID = er.Code, er.Error, er.RequestID
		} else {
			apiErr.Code, apiErr.Message = "http", strings.TrimSpace(string(data))
		}
		return nil, apiErr
	}
	switch o := out.(type) {
	case *[]byte:
		*o = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("kvstore: decode response: %w", err)
		}
	}
	return resp.Header, nil
}
