package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
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
	f := cmd.Flags()
	f.Uint64("id", app.DefaultNodeID, "this node's raft id")
	f.String("data-dir", app.DefaultDataDir, "directory of the node's identity key and stores")
	f.String("listen", app.DefaultListenAddr, "raft transport address (UDP for quic)")
	f.String("http", app.DefaultHTTPAddr, "HTTP API address")
	f.String("peers", "", "initial members, ID=HOST:PORT or ID=KEY@HOST:PORT, comma-separated; bootstraps a new cluster, ignored once the node has state (default: this node alone)")
	f.String("cluster-secret-file", "", "file holding the cluster secret (32+ bytes, mode 0600) that authenticates members instead of pinned keys")
	f.String("transport", app.TransportQUIC, "raft transport: quic or mem (one node, one process)")
	f.String("store", app.StorePebble, "log and snapshot store: "+strings.Join(app.Stores(), ", "))
	f.String("preset", "production", "raft timing preset: production, development or testing")
	f.Duration("request-timeout", kvstore.DefaultRequestTimeout, "bound on one request's proposal or read")
	f.Duration("stop-timeout", app.DefaultStopTimeout, "bound on a graceful stop")
	f.Duration("peer-idle-timeout", app.DefaultPeerIdle, "a peer connection that receives nothing this long is dialled again")
	f.String("log-level", "info", "log level: debug, info, warn or error")
	f.String("http-tls-cert", "", "PEM certificate (chain) of the HTTP API; with --http-tls-key the API speaks HTTPS")
	f.String("http-tls-key", "", "PEM private key of the HTTP API (mode 0600)")
	f.String("http-tokens-file", "", "bearer tokens of the HTTP API, one \"read|readwrite TOKEN\" line each (mode 0600)")
	f.String("http-client-ca", "", "PEM CA certificates of HTTP clients: a verified client certificate gets the readwrite scope (needs --http-tls-cert)")
	f.Bool("join", false, "start with an empty log and wait to be added to the cluster whose members --peers names (jangadactl member add)")
	f.String("admin-keys", "", "file of ed25519 public keys (one a line, as jangadactl keygen prints them) allowed to change the cluster with jangadactl")
	return cmd
}

// serveConfig builds the node's configuration from the serve flags.
func serveConfig(cmd *cobra.Command) (app.Config, error) {
	f := cmd.Flags()
	var cfg app.Config
	cfg.NodeID, _ = f.GetUint64("id")
	cfg.DataDir, _ = f.GetString("data-dir")
	cfg.ListenAddr, _ = f.GetString("listen")
	cfg.HTTPAddr, _ = f.GetString("http")
	cfg.Transport, _ = f.GetString("transport")
	cfg.Store, _ = f.GetString("store")
	cfg.RequestTimeout, _ = f.GetDuration("request-timeout")
	cfg.StopTimeout, _ = f.GetDuration("stop-timeout")
	cfg.PeerIdleTimeout, _ = f.GetDuration("peer-idle-timeout")
	cfg.HTTPTLSCert, _ = f.GetString("http-tls-cert")
	cfg.HTTPTLSKey, _ = f.GetString("http-tls-key")
	cfg.HTTPTokensFile, _ = f.GetString("http-tokens-file")
	cfg.HTTPClientCA, _ = f.GetString("http-client-ca")
	cfg.Join, _ = f.GetBool("join")
	preset, _ := f.GetString("preset")
	var err error
	if cfg.Preset, err = raftcore.ParsePreset(preset); err != nil {
		return cfg, err
	}
	if peers, _ := f.GetString("peers"); peers != "" {
		if cfg.Peers, err = app.ParsePeers(peers); err != nil {
			return cfg, err
		}
	}
	if path, _ := f.GetString("cluster-secret-file"); path != "" {
		if cfg.ClusterSecret, err = readSecretFile(path); err != nil {
			return cfg, fmt.Errorf("cluster secret: %w", err)
		}
	}
	if path, _ := f.GetString("admin-keys"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("admin keys: %w", err)
		}
		keys, err := mgmt.ParseKeyList(data)
		if err != nil {
			return cfg, fmt.Errorf("admin keys %s: %w", path, err)
		}
		for _, k := range keys {
			cfg.AdminKeys = append(cfg.AdminKeys, ed25519.PublicKey(k))
		}
	}
	levelText, _ := f.GetString("log-level")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelText)); err != nil {
		return cfg, fmt.Errorf("log level %q: %w", levelText, err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})).With("node", cfg.NodeID)
	return cfg, cfg.Validate()
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
	startCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
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

// readSecretFile returns the first line of a private file, trimmed.
func readSecretFile(path string) (string, error) {
	data, err := app.ReadPrivateFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New(path + " is empty")
	}
	return line, nil
}

// envPrefix starts the environment variable of every flag: --data-dir is
// BANK_DATA_DIR.
const envPrefix = "BANK_"

// applyEnvironment fills every flag not given on the command line from its
// BANK_* environment variable.
func applyEnvironment(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}
