// Package serveflags holds the serve flags of every node built on kvstore's
// wiring (kvstore serve, bank serve): the node's addresses, stores, timing,
// secrets and HTTP security, management, discovery and scheduled backups,
// each settable from a PREFIX_* environment variable or a config file. An
// app adds its own flags beside them.
//
//	cmd := &cobra.Command{Use: "serve", PreRunE: func(cmd *cobra.Command, _ []string) error {
//		return serveflags.ApplySources(cmd, "MYAPP_")
//	}}
//	serveflags.Add(cmd.Flags(), "MYAPP_")
//	…
//	cfg, err := serveflags.Config(cmd, "MYAPP_")
package serveflags

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Add adds the serve flags to f; envPrefix ("KVSTORE_") names the
// environment variables in their help.
func Add(f *pflag.FlagSet, envPrefix string) {
	f.Uint64("id", app.DefaultNodeID, "this node's raft id")
	f.String("data-dir", app.DefaultDataDir, "directory of the node's identity key and stores")
	f.String("listen", app.DefaultListenAddr, "raft transport address (UDP for quic)")
	f.String("http", app.DefaultHTTPAddr, "HTTP API address")
	f.String("peers", "", "initial members, ID=HOST:PORT or ID=KEY@HOST:PORT, comma-separated; bootstraps a new cluster, ignored once the node has state (default: this node alone)")
	f.String("cluster-secret", "", "shared secret (32+ bytes) that authenticates members instead of pinned keys; visible in ps: prefer --cluster-secret-file")
	f.String("transport", app.TransportQUIC, "raft transport: quic or mem (one node, one process)")
	f.String("store", app.StorePebble, "log and snapshot store: "+strings.Join(app.Stores(), ", "))
	f.String("preset", "production", "raft timing preset: production, development or testing")
	f.Duration("request-timeout", kvstore.DefaultRequestTimeout, "bound on one request's proposal or read")
	f.Duration("stop-timeout", app.DefaultStopTimeout, "bound on a graceful stop")
	f.Duration("peer-idle-timeout", app.DefaultPeerIdle, "a peer connection that receives nothing this long is dialled again (how soon a restarted peer is reached)")
	f.String("log-level", "info", "log level: debug, info, warn or error")
	f.String("fault-control", "", "testing only: a file whose lines (partition ADDR…, loss RATE, delay DURATION) inject network faults into this node's QUIC socket, re-read every 100ms")

	// Secrets, TLS and authentication of the HTTP API.
	f.String("cluster-secret-file", "", "file holding the cluster secret (mode 0600); preferred to --cluster-secret, which other users see in ps (env "+EnvName(envPrefix, "cluster-secret")+" also works)")
	f.StringArray("cluster-secret-accepted-file", nil, "file (mode 0600) of a further cluster secret this node accepts but does not present, to rotate the secret with rolling restarts (repeatable; see SECURITY.md)")
	f.String("http-tls-cert", "", "PEM certificate (chain) of the HTTP API; with --http-tls-key the API speaks HTTPS")
	f.String("http-tls-key", "", "PEM private key of the HTTP API (mode 0600)")
	f.String("http-tokens-file", "", "bearer tokens of the HTTP API, one \"read|readwrite TOKEN\" line each (mode 0600); the API then requires a token or client certificate")
	f.String("http-client-ca", "", "PEM CA certificates of HTTP clients: a verified client certificate gets the readwrite scope (needs --http-tls-cert)")

	// Management (jangada/mgmt/1).
	f.Bool("join", false, "start with an empty log and wait to be added to the cluster whose members --peers names (jangadactl member add)")
	f.String("admin-keys", "", "file of ed25519 public keys (one a line, as jangadactl keygen prints them) allowed to change the cluster with jangadactl")

	// Scheduled backups.
	f.String("backup-schedule", "", `cron schedule of backups made by the leader, e.g. "0 3 * * *" or "@daily" (default: none)`)
	f.String("backup-to", "", "where scheduled backups go: a directory or s3://BUCKET/PREFIX (S3 endpoint and credentials from the standard AWS_* environment)")
	f.String("backup-retain", "", `backups kept after each scheduled one: N (the last N) or "last=N,daily=D,weekly=W" (default: all)`)

	// Discovery, join tickets and the autopilot.
	f.String("discover", "", "find the other nodes: static:HOST:PORT[,HOST:PORT…] or dns-srv:NAME[@RESOLVER_HOST:PORT]; with --bootstrap-expect a fresh node forms a new cluster or joins the one it finds")
	f.Int("bootstrap-expect", 0, "number of voters a cluster formed by --discover starts with; fewer visible nodes wait")
	f.String("join-ticket", "", "join the cluster a ticket (jangadactl ticket create) names; visible in ps: prefer --join-ticket-file or "+EnvName(envPrefix, "join-ticket"))
	f.String("join-ticket-file", "", "file holding a join ticket (mode 0600)")
	f.Bool("autopilot-promote", true, "the leader promotes learners that joined as voters once caught up")
	f.Uint64("autopilot-max-lag", discovery.DefaultMaxLag, "entries a learner may be behind the leader's commit index to count as caught up")
	f.Duration("autopilot-stabilization", discovery.DefaultStabilizationTime, "how long a learner stays caught up before it is promoted")
	f.Duration("autopilot-dead-voter-timeout", 0, "remove a voter unreachable this long, when --autopilot-min-voters remain with a quorum reachable (0: never)")
	f.Int("autopilot-min-voters", discovery.DefaultMinVoters, "fewest voters the removal of dead voters leaves")
}

// Config builds a node's configuration from the serve flags of cmd;
// envPrefix is the app's environment prefix ("KVSTORE_"). The logger
// writes to cmd's error output at --log-level. The result is validated.
func Config(cmd *cobra.Command, envPrefix string) (app.Config, error) {
	f := cmd.Flags()
	var cfg app.Config
	cfg.NodeID, _ = f.GetUint64("id")
	cfg.DataDir, _ = f.GetString("data-dir")
	cfg.ListenAddr, _ = f.GetString("listen")
	cfg.HTTPAddr, _ = f.GetString("http")
	cfg.ClusterSecret, _ = f.GetString("cluster-secret")
	cfg.Transport, _ = f.GetString("transport")
	cfg.Store, _ = f.GetString("store")
	cfg.RequestTimeout, _ = f.GetDuration("request-timeout")
	cfg.StopTimeout, _ = f.GetDuration("stop-timeout")
	cfg.PeerIdleTimeout, _ = f.GetDuration("peer-idle-timeout")
	cfg.FaultControlFile, _ = f.GetString("fault-control")
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
	if err := applyMgmt(f, &cfg); err != nil {
		return cfg, err
	}
	cfg.BackupSchedule, _ = f.GetString("backup-schedule")
	cfg.BackupTo, _ = f.GetString("backup-to")
	cfg.BackupRetain, _ = f.GetString("backup-retain")
	if err := applyDiscovery(cmd, envPrefix, &cfg); err != nil {
		return cfg, err
	}
	levelText, _ := f.GetString("log-level")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelText)); err != nil {
		return cfg, fmt.Errorf("log level %q: %w", levelText, err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})).With("node", cfg.NodeID)
	if err := applySecurity(cmd, envPrefix, &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// applySecurity sets cfg's secret and HTTP security. cfg.Logger must be
// set: a secret given on the command line is warned about there.
func applySecurity(cmd *cobra.Command, envPrefix string, cfg *app.Config) error {
	f := cmd.Flags()
	cfg.HTTPTLSCert, _ = f.GetString("http-tls-cert")
	cfg.HTTPTLSKey, _ = f.GetString("http-tls-key")
	cfg.HTTPTokensFile, _ = f.GetString("http-tokens-file")
	cfg.HTTPClientCA, _ = f.GetString("http-client-ca")
	if secretFile, _ := f.GetString("cluster-secret-file"); secretFile != "" {
		if cfg.ClusterSecret != "" {
			return errors.New("both --cluster-secret and --cluster-secret-file are set; keep the file")
		}
		secret, err := ReadSecretFile(secretFile)
		if err != nil {
			return fmt.Errorf("cluster secret: %w", err)
		}
		cfg.ClusterSecret = secret
	}
	accepted, _ := f.GetStringArray("cluster-secret-accepted-file")
	for _, path := range accepted {
		secret, err := ReadSecretFile(path)
		if err != nil {
			return fmt.Errorf("accepted cluster secret: %w", err)
		}
		cfg.AcceptedClusterSecrets = append(cfg.AcceptedClusterSecrets, secret)
	}
	if len(cfg.AcceptedClusterSecrets) > 0 && cfg.ClusterSecret == "" {
		return errors.New("--cluster-secret-accepted-file needs a cluster secret")
	}
	if f.Changed("cluster-secret") {
		cfg.Logger.Warn("--cluster-secret on the command line is visible to every user of this machine (ps, /proc); " +
			"use --cluster-secret-file FILE (mode 0600) or the " + EnvName(envPrefix, "cluster-secret") + " environment variable")
	}
	return nil
}

// applyMgmt sets cfg's management fields.
func applyMgmt(f *pflag.FlagSet, cfg *app.Config) error {
	cfg.Join, _ = f.GetBool("join")
	path, _ := f.GetString("admin-keys")
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("admin keys: %w", err)
	}
	keys, err := mgmt.ParseKeyList(data)
	if err != nil {
		return fmt.Errorf("admin keys %s: %w", path, err)
	}
	for _, k := range keys {
		cfg.AdminKeys = append(cfg.AdminKeys, ed25519.PublicKey(k))
	}
	return nil
}

// applyDiscovery sets cfg's discovery fields. A join ticket sets the node
// id unless --id (or PREFIX_ID) names one.
func applyDiscovery(cmd *cobra.Command, envPrefix string, cfg *app.Config) error {
	f := cmd.Flags()
	cfg.Discover, _ = f.GetString("discover")
	cfg.BootstrapExpect, _ = f.GetInt("bootstrap-expect")
	promote, _ := f.GetBool("autopilot-promote")
	cfg.Autopilot.DisablePromotion = !promote
	cfg.Autopilot.MaxLag, _ = f.GetUint64("autopilot-max-lag")
	cfg.Autopilot.StabilizationTime, _ = f.GetDuration("autopilot-stabilization")
	cfg.Autopilot.DeadVoterTimeout, _ = f.GetDuration("autopilot-dead-voter-timeout")
	cfg.Autopilot.MinVoters, _ = f.GetInt("autopilot-min-voters")

	ticket, _ := f.GetString("join-ticket")
	if path, _ := f.GetString("join-ticket-file"); path != "" {
		if ticket != "" {
			return fmt.Errorf("give the join ticket once: --join-ticket or --join-ticket-file")
		}
		data, err := app.ReadPrivateFile(path)
		if err != nil {
			return fmt.Errorf("join ticket file: %w", err)
		}
		ticket = strings.TrimSpace(string(data))
	}
	if ticket == "" {
		return nil
	}
	t, err := discovery.ParseTicket(ticket)
	if err != nil {
		return err
	}
	cfg.JoinTicket = ticket
	if _, env := os.LookupEnv(EnvName(envPrefix, "id")); !f.Changed("id") && !env {
		cfg.NodeID = t.NodeID
	}
	return nil
}

// StartContext bounds the start of a node: a minute, or, when the node may
// wait for others to form a cluster (--discover), until SIGINT or SIGTERM.
func StartContext(cfg app.Config) (context.Context, context.CancelFunc) {
	if cfg.Discover != "" {
		return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	}
	return context.WithTimeout(context.Background(), time.Minute)
}

// ReadSecretFile returns the first line of a private file (no access for
// group or others), trimmed.
func ReadSecretFile(path string) (string, error) {
	data, err := app.ReadPrivateFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return line, nil
}
