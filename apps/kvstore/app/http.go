package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
}

// HandlerParams are what NewHandler is built from.
type HandlerParams struct {
	fx.In

	Config  Config
	Node    kvstore.Node
	Machine *kvstore.Machine
	Logger  *slog.Logger
}

// NewHandler returns the key-value API handler.
func NewHandler(p HandlerParams) (*kvstore.Handler, error) {
	return kvstore.NewHandler(kvstore.HandlerConfig{
		Node:           p.Node,
		Machine:        p.Machine,
		MaxValueSize:   p.Config.MaxValueSize,
		RequestTimeout: p.Config.RequestTimeout,
		Logger:         p.Logger,
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
	API       *kvstore.Handler
	Routes    []Route `group:"routes"`
	Logger    *slog.Logger
}

// NewHTTPServer builds the server; the lifecycle binds its address on
// start (so a port in use fails the start) and drains it on stop, before
// the raft node closes.
func NewHTTPServer(p HTTPParams) *HTTPServer {
	mux := http.NewServeMux()
	p.API.Register(mux)
	for _, r := range p.Routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	mux.HandleFunc("/", kvstore.NotFound)
	s := &HTTPServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
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
			go func() {
				defer close(s.done)
				if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					p.Logger.Error("http server failed", "err", err)
				}
			}()
			p.Logger.Info("serving HTTP", "addr", s.addr.String())
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := s.srv.Shutdown(ctx)
			<-s.done
			return err
		},
	})
	return s
}

// Addr returns the address the server listens on, once started.
func (s *HTTPServer) Addr() net.Addr { return s.addr }
