package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/apps/kvstore"
)

// Route is an extra handler mounted on the HTTP server's mux, next to the
// key-value API. Provide one into the "routes" group:
//
//	fx.Provide(fx.Annotate(newRoute, fx.ResultTags(`group:"routes"`)))
type Route struct {
	// Pattern is an http.ServeMux pattern, such as "GET /metrics".
	Pattern string
	Handler http.Handler
	// Public routes are served without a credential when the API requires
	// one (metrics and health checks); others need the same credentials
	// as the API.
	Public bool
}

// Limits of the HTTP server. The write timeout covers reading the body
// too, so it is the read timeout plus the request timeout and a margin.
const (
	HTTPReadHeaderTimeout = 10 * time.Second
	HTTPReadTimeout       = 60 * time.Second
	HTTPIdleTimeout       = 120 * time.Second
	HTTPMaxHeaderBytes    = 64 << 10
	httpWriteMargin       = 10 * time.Second
)

// AuthParams are what NewAuth is built from.
type AuthParams struct {
	fx.In

	Config Config
}

// NewAuth returns the API's authentication as Config sets it: bearer
// tokens from HTTPTokensFile, client certificates verified against
// HTTPClientCA. It returns nil when neither is set: the API is open.
func NewAuth(p AuthParams) (*kvstore.Auth, error) {
	if !p.Config.httpAuthEnabled() {
		return nil, nil
	}
	auth := &kvstore.Auth{}
	if path := p.Config.HTTPTokensFile; path != "" {
		data, err := ReadPrivateFile(path)
		if err != nil {
			return nil, fmt.Errorf("HTTP tokens: %w", err)
		}
		if auth.Tokens, err = kvstore.ParseTokens(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("HTTP tokens file %s: %w", path, err)
		}
	}
	if p.Config.HTTPClientCA != "" {
		auth.ClientCertScope = kvstore.ScopeReadWrite
	}
	return auth, nil
}

// HandlerParams are what NewHandler is built from.
type HandlerParams struct {
	fx.In

	Config  Config
	Node    kvstore.Node
	Machine *kvstore.Machine
	Logger  *slog.Logger
	Auth    *kvstore.Auth
}

// NewHandler returns the key-value API handler.
func NewHandler(p HandlerParams) (*kvstore.Handler, error) {
	return kvstore.NewHandler(kvstore.HandlerConfig{
		Node:           p.Node,
		Machine:        p.Machine,
		MaxValueSize:   p.Config.MaxValueSize,
		RequestTimeout: p.Config.RequestTimeout,
		Logger:         p.Logger,
		Auth:           p.Auth,
	})
}

// HTTPServer serves the API and the extra routes on Config.HTTPAddr.
type HTTPServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// HTTPParams are what NewHTTPServer is built from.
type HTTPParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Config
	API       *kvstore.Handler `optional:"true"` // nil: the API is in Routes (ServiceOptions)
	Auth      *kvstore.Auth
	Routes    []Route `group:"routes"`
	Logger    *slog.Logger
}

// NewHTTPServer builds the server; the lifecycle binds its address on
// start (so a port in use fails the start) and drains it on stop, before
// the raft node closes.
//
// The server has read, write and idle timeouts and a header size limit;
// it speaks TLS when Config sets a certificate. Bound to a loopback
// address, it refuses requests whose Host header names another host, so
// that a web page cannot reach it through DNS rebinding. Bound elsewhere
// without authentication, it logs a warning at start.
func NewHTTPServer(p HTTPParams) (*HTTPServer, error) {
	tlsConfig, err := serverTLS(p.Config)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if p.API != nil {
		p.API.Register(mux)
	}
	for _, r := range p.Routes {
		h := r.Handler
		if !r.Public {
			h = p.Auth.Require(h)
		}
		mux.Handle(r.Pattern, h)
	}
	mux.HandleFunc("/", kvstore.NotFound)
	requestTimeout := p.Config.RequestTimeout
	if requestTimeout == 0 {
		requestTimeout = kvstore.DefaultRequestTimeout
	}
	s := &HTTPServer{
		srv: &http.Server{
			Handler:           mux,
			TLSConfig:         tlsConfig,
			ReadHeaderTimeout: HTTPReadHeaderTimeout,
			ReadTimeout:       HTTPReadTimeout,
			WriteTimeout:      HTTPReadTimeout + requestTimeout + httpWriteMargin,
			IdleTimeout:       HTTPIdleTimeout,
			MaxHeaderBytes:    HTTPMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", p.Config.HTTPAddr)
			if err != nil {
				return fmt.Errorf("http: %w", err)
			}
			s.addr = ln.Addr()
			host, _, _ := net.SplitHostPort(p.Config.HTTPAddr)
			if isLoopback(host) {
				s.srv.Handler = checkHost(s.addr.(*net.TCPAddr), tlsConfig != nil, mux)
			} else {
				warnExposed(p.Logger, p.Config, s.addr)
			}
			go func() {
				defer close(s.done)
				var err error
				if tlsConfig != nil {
					err = s.srv.ServeTLS(ln, "", "")
				} else {
					err = s.srv.Serve(ln)
				}
				if !errors.Is(err, http.ErrServerClosed) {
					p.Logger.Error("http server failed", "err", err)
				}
			}()
			p.Logger.Info("serving HTTP", "addr", s.addr.String(), "tls", tlsConfig != nil, "auth", p.Auth != nil)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := s.srv.Shutdown(ctx)
			<-s.done
			return err
		},
	})
	return s, nil
}

// Addr returns the address the server listens on, once started.
func (s *HTTPServer) Addr() net.Addr { return s.addr }

// serverTLS returns the HTTP server's TLS configuration, or nil for plain
// HTTP.
func serverTLS(cfg Config) (*tls.Config, error) {
	if cfg.HTTPTLSCert == "" {
		return nil, nil
	}
	keyPEM, err := ReadPrivateFile(cfg.HTTPTLSKey)
	if err != nil {
		return nil, fmt.Errorf("HTTP TLS key: %w", err)
	}
	certPEM, err := os.ReadFile(cfg.HTTPTLSCert)
	if err != nil {
		return nil, fmt.Errorf("HTTP TLS certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: HTTP TLS certificate %s and key %s: %v", ErrInvalidConfig, cfg.HTTPTLSCert, cfg.HTTPTLSKey, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.HTTPClientCA != "" {
		caPEM, err := os.ReadFile(cfg.HTTPClientCA)
		if err != nil {
			return nil, fmt.Errorf("HTTP client CA: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("%w: HTTP client CA %s holds no PEM certificate", ErrInvalidConfig, cfg.HTTPClientCA)
		}
		// Tokens still work for clients without a certificate.
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// isLoopback reports whether host (of a listen address) is a loopback name
// or address; "" and unspecified addresses listen on every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnExposed logs, at Warn, what an API reachable beyond loopback lacks.
func warnExposed(log *slog.Logger, cfg Config, addr net.Addr) {
	switch {
	case !cfg.httpAuthEnabled():
		log.Warn("THE HTTP API LISTENS BEYOND LOOPBACK WITHOUT AUTHENTICATION: anyone who reaches it can read, write and delete every key; "+
			"set --http-tokens-file or --http-client-ca (with --http-tls-cert and --http-tls-key), or listen on 127.0.0.1",
			"addr", addr.String())
	case cfg.HTTPTLSCert == "":
		log.Warn("the HTTP API listens beyond loopback without TLS: bearer tokens and values cross the network in clear text; "+
			"set --http-tls-cert and --http-tls-key", "addr", addr.String())
	}
}

// checkHost serves only requests whose Host header names a loopback host
// and the server's port: a browser that a DNS-rebinding page sends here
// carries the attacker's host name.
func checkHost(addr *net.TCPAddr, tls bool, next http.Handler) http.Handler {
	port := fmt.Sprint(addr.Port)
	defaultPort := "80"
	if tls {
		defaultPort = "443"
	}
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, addr.IP.String(): true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, p, err := net.SplitHostPort(r.Host)
		if err != nil {
			host, p = strings.Trim(r.Host, "[]"), defaultPort
		}
		if !allowed[strings.ToLower(host)] || p != port {
			kvstore.WriteError(w, http.StatusMisdirectedRequest, kvstore.CodeBadHost,
				fmt.Sprintf("host %q is not served here: this server listens on loopback port %s and answers only localhost, 127.0.0.1 or [::1]", r.Host, port))
			return
		}
		next.ServeHTTP(w, r)
	})
}
