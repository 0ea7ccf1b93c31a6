package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/apps/kvstore/app/serveflags"
)

// The serve flags are the key-value store's (see kvstore serve --help),
// with the same names, defaults and meaning: the node runs on its wiring.
func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node (with no flags: a single-node cluster in ./data)",
		Args:  cobra.NoArgs,
		RunE:  serve,
	}
	serveflags.Add(cmd.Flags(), envPrefix)
	cmd.Flags().String("config", "", "file of \"name = value\" lines setting serve flags (mode 0600; env BANK_CONFIG)")
	return cmd
}

// serveConfig builds the node's configuration from the serve flags.
func serveConfig(cmd *cobra.Command) (app.Config, error) {
	return serveflags.Config(cmd, envPrefix)
}

// service is the bank on the key-value store's wiring: its machine behind
// client sessions, and its API.
func service(cfg app.Config) app.Service[bank.SessionCommand, bank.SessionResult] {
	machine := bank.NewMachine()
	sm, codec := bank.NewSessionMachine(machine)
	return app.Service[bank.SessionCommand, bank.SessionResult]{
		Name:    "bank",
		Machine: sm,
		Codec:   codec,
		Routes: func(node *app.ServiceNode[bank.SessionCommand, bank.SessionResult]) ([]app.Route, error) {
			h, err := bank.NewHandler(bank.HandlerConfig{Node: node, Machine: machine, RequestTimeout: cfg.RequestTimeout, Logger: cfg.Logger})
			if err != nil {
				return nil, err
			}
			routes := make([]app.Route, 0, len(bank.Patterns))
			for _, p := range bank.Patterns {
				routes = append(routes, app.Route{Pattern: p, Handler: h})
			}
			return routes, nil
		},
	}
}

func serve(cmd *cobra.Command, _ []string) error {
	cfg, err := serveConfig(cmd)
	if err != nil {
		return err
	}
	fxApp, err := app.NewService(cfg, service(cfg))
	if err != nil {
		return err
	}
	startCtx, cancel := serveflags.StartContext(cfg)
	defer cancel()
	if err := fxApp.Start(startCtx); err != nil {
		return err
	}
	sig := <-fxApp.Wait()
	cfg.Logger.Info("stopping", "signal", sig.Signal.String())
	stopCtx, cancelStop := context.WithTimeout(context.Background(), cfg.StopTimeout)
	defer cancelStop()
	if err := fxApp.Stop(stopCtx); err != nil {
		return err
	}
	if sig.ExitCode != 0 {
		return exitError{code: sig.ExitCode}
	}
	return nil
}

// envPrefix starts the environment variable of every flag: --data-dir is
// BANK_DATA_DIR.
const envPrefix = "BANK_"

// applyEnvironment fills every flag not given on the command line from its
// BANK_* environment variable, else (serve) from the --config file.
func applyEnvironment(cmd *cobra.Command) error { return serveflags.ApplySources(cmd, envPrefix) }
