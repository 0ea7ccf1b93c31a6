package kvstore

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Scope is what a credential lets a request do.
type Scope uint8

const (
	// ScopeNone allows nothing.
	ScopeNone Scope = iota
	// ScopeRead allows GET and HEAD: reads, listings and status.
	ScopeRead
	// ScopeReadWrite allows everything Read does, and PUT and DELETE.
	ScopeReadWrite
)

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeReadWrite:
		return "readwrite"
	}
	return "none"
}

// MinTokenLength is the shortest bearer token ParseTokens accepts.
const MinTokenLength = 16

// Tokens is a set of bearer tokens, each with a scope. Only SHA-256 hashes
// of the tokens are kept, and a lookup compares against every one of them
// in constant time.
type Tokens struct {
	hashes [][sha256.Size]byte
	scopes []Scope
}

// ParseTokens reads a tokens file: one "SCOPE TOKEN" line per token, where
// SCOPE is read or readwrite and TOKEN is at least MinTokenLength printable
// ASCII characters without spaces; blank lines and lines starting with #
// are skipped. For example:
//
//	# kvstore API tokens
//	readwrite 6f1c0a8e3b2d4f5a9e7c1b0d2a4f6e8c
//	read      0d9b7e5c3a1f2e4d6c8b0a9f7e5d3c1b
//
// It returns an error wrapping ErrInvalidConfig, naming the line, for
// anything else, for a token listed twice, and for a file without tokens.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%w: tokens line %d: want \"SCOPE TOKEN\"", ErrInvalidConfig, line)
		}
		var scope Scope
		switch fields[0] {
		case "read":
			scope = ScopeRead
		case "readwrite":
			scope = ScopeReadWrite
		default:
			return nil, fmt.Errorf("%w: tokens line %d: scope %q: want read or readwrite", ErrInvalidConfig, line, fields[0])
		}
		token := fields[1]
		if len(token) < MinTokenLength || strings.ContainsFunc(token, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return nil, fmt.Errorf("%w: tokens line %d: a token is at least %d printable ASCII characters", ErrInvalidConfig, line, MinTokenLength)
		}
		h := sha256.Sum256([]byte(token))
		if seen[h] {
			return nil, fmt.Errorf("%w: tokens line %d: token listed twice", ErrInvalidConfig, line)
		}
		seen[h] = true
		t.hashes = append(t.hashes, h)
		t.scopes = append(t.scopes, scope)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: tokens: %w", ErrInvalidConfig, err)
	}
	if len(t.hashes) == 0 {
		return nil, fmt.Errorf("%w: tokens: no token", ErrInvalidConfig)
	}
	return t, nil
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.hashes) }

// Lookup returns the scope of token, or ScopeNone. Its time depends on the
// number of tokens, not on which one matches or how much of it.
func (t *Tokens) Lookup(token string) Scope {
	h := sha256.Sum256([]byte(token))
	found := 0
	for i := range t.hashes {
		match := subtle.ConstantTimeCompare(h[:], t.hashes[i][:])
		found = subtle.ConstantTimeSelect(match, int(t.scopes[i]), found)
	}
	return Scope(found)
}

// Auth authenticates the API's requests. A request presents a bearer token
// (Authorization: Bearer TOKEN) or, over TLS, a client certificate that the
// server verified against its client CA.
type Auth struct {
	// Tokens are the accepted bearer tokens; nil accepts none.
	Tokens *Tokens
	// ClientCertScope is the scope of a request whose TLS client
	// certificate was verified; ScopeNone ignores client certificates.
	ClientCertScope Scope
}

// Scope returns what r may do: the scope of its bearer token, else that of
// a verified client certificate. A request that presents a token gets the
// token's scope, even if it also has a certificate.
func (a *Auth) Scope(r *http.Request) Scope {
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, token, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || a.Tokens == nil {
			return ScopeNone
		}
		return a.Tokens.Lookup(strings.TrimSpace(token))
	}
	if a.ClientCertScope != ScopeNone && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return a.ClientCertScope
	}
	return ScopeNone
}

// requiredScope is the scope a request's method needs.
func requiredScope(method string) Scope {
	if method == http.MethodGet || method == http.MethodHead {
		return ScopeRead
	}
	return ScopeReadWrite
}

// Allow reports whether r may proceed, having written a 401 (no valid
// credentials) or 403 (a read-only credential for a write) when not. A nil
// Auth allows everything.
func (a *Auth) Allow(w http.ResponseWriter, r *http.Request) bool {
	if a == nil {
		return true
	}
	scope := a.Scope(r)
	switch need := requiredScope(r.Method); {
	case scope == ScopeNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="kvstore"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "a valid bearer token or client certificate is required")
		return false
	case scope < need:
		writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("the credential's scope is %s; %s needs %s", scope, r.Method, need))
		return false
	}
	return true
}

// Require returns h behind a's check: a handler for routes mounted next to
// the API (such as /status) that need the same credentials. A nil Auth
// returns h.
func (a *Auth) Require(h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.Allow(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}
