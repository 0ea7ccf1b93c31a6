package app

import (
	"errors"
	"log/slog"
	"os"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/jangada-io/jangada/apps/kvstore"
)

// Options returns the graph of a kvstore node: config → identity →
// transport → stores → state machine → raft node → HTTP server, with
// metrics and health, and the management server (jangada/mgmt/1). The
// transport and store backends are chosen by cfg.Transport and cfg.Store;
// nothing else changes with them. Options does
// not validate cfg; New does.
func Options(cfg Config) fx.Option {
	cfg = cfg.withDefaults()
	return fx.Options(
		fx.Supply(cfg, &openedParts{}),
		fx.Provide(func() *slog.Logger { return loggerOf(cfg) }),
		fx.Provide(NewDataDir),
		transportOption(cfg),
		storeOption(cfg),
		fx.Provide(
			kvstore.NewMachine,
			fx.Annotate(NewReplica, fx.As(fx.Self()), fx.As(new(kvstore.Node))),
			NewAuth,
			NewHandler,
			NewHTTPServer,
		),
		observeOption(),
		statusPageOption(),
		mgmtOption(),
		fx.Provide(kvstoreBackupSource),
		backupOption(cfg),
		discoveryOption(cfg),
		fx.Invoke(func(*HTTPServer) {}),
	)
}

// New returns the application of one kvstore node, ready for Start. It
// returns an error wrapping ErrInvalidConfig for a bad cfg, and the error of
// the part that could not be built (a store that refuses its directory, say)
// as that part returned it.
func New(cfg Config, extra ...fx.Option) (*fx.App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return newApp(cfg, Options(cfg), extra)
}

// newApp builds the application of graph (the options of cfg, a withDefaults
// Config) and extra, with cfg's stop timeout and fx's events logged at
// debug level.
//
// If a part fails to build, what the parts built before it opened is closed
// again, and the error is the failing constructor's own (dig.RootCause):
// fx's chain of "could not build arguments for function …" around it names
// internals and buries the cause at the end of a long line. The fx logger
// still records the whole chain.
func newApp(cfg Config, graph fx.Option, extra []fx.Option) (*fx.App, error) {
	opened := &openedParts{}
	opts := []fx.Option{
		graph,
		fx.StopTimeout(cfg.StopTimeout),
		fx.WithLogger(func(l *slog.Logger) fxevent.Logger {
			fl := &fxevent.SlogLogger{Logger: l.With("component", "fx")}
			fl.UseLogLevel(slog.LevelDebug)
			return fl
		}),
		fx.Replace(opened),
	}
	app := fx.New(append(opts, extra...)...)
	if err := app.Err(); err != nil {
		return app, errors.Join(dig.RootCause(err), opened.closeAll())
	}
	return app, nil
}

func loggerOf(cfg Config) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
