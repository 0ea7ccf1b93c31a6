package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/apps/kvstore/app/serveflags"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// run executes the command line args and returns the exit code.
func run(args []string) (int, error) {
	root := newRootCommand(os.Stdin, os.Stdout)
	root.SetArgs(args)
	err := root.Execute()
	if ee, ok := errors.AsType[exitError](err); ok {
		return ee.code, nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func newRootCommand(stdin io.Reader, stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "kvstore",
		Short:         "A replicated key-value store on jangada (Raft over QUIC)",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfigSources(cmd)
		},
	}
	root.SetOut(stdout)
	root.PersistentFlags().String("config", "", "file of \"name = value\" lines setting flags (env KVSTORE_CONFIG)")
	root.AddCommand(newServeCommand(), newIdentityCommand(stdout))
	root.AddCommand(newVerifyBackupCommand(stdout))
	for _, c := range newClientCommands(stdin, stdout) {
		c.Flags().String("endpoints", "127.0.0.1:8001", "comma-separated HTTP addresses of the nodes")
		c.Flags().Duration("timeout", 10*time.Second, "bound on the whole request")
		addClientSecurityFlags(c.Flags())
		root.AddCommand(c)
	}
	return root
}

func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node (with no flags: a single-node cluster in ./data)",
		Args:  cobra.NoArgs,
		RunE:  serve,
	}
	f := cmd.Flags()
	serveflags.Add(f, envPrefix)
	f.Int("max-value-size", kvstore.DefaultMaxValueSize, "largest value accepted, in bytes")
	return cmd
}

// serveConfig builds the node's configuration from the serve flags.
func serveConfig(cmd *cobra.Command) (app.Config, error) {
	cfg, err := serveflags.Config(cmd, envPrefix)
	if err != nil {
		return cfg, err
	}
	cfg.MaxValueSize, _ = cmd.Flags().GetInt("max-value-size")
	return cfg, cfg.Validate()
}

func serve(cmd *cobra.Command, _ []string) error {
	cfg, err := serveConfig(cmd)
	if err != nil {
		return err
	}
	fxApp, err := app.New(cfg)
	if err != nil {
		return err
	}
	startCtx, cancel := serveflags.StartContext(cfg)
	defer cancel()
	if err := fxApp.Start(startCtx); err != nil {
		return err
	}
	sig := <-fxApp.Wait() // SIGINT, SIGTERM, or a fatal node error
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

func newIdentityCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Print this node's public key (creating its identity), to pin in --peers as ID=KEY@HOST:PORT",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, _ := cmd.Flags().GetString("data-dir")
			if _, err := app.NewDataDir(app.DataDirParams{Config: app.Config{DataDir: dir}}); err != nil {
				return err
			}
			key, err := transportquic.LoadOrCreateIdentity(app.Config{DataDir: dir}.IdentityPath())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, transportquic.FormatKey(transportquic.PublicKey(key)))
			return err
		},
	}
	cmd.Flags().String("data-dir", app.DefaultDataDir, "the node's data directory")
	return cmd
}

// withClient runs fn with a client for the command's --endpoints, bounded
// by --timeout.
func withClient(cmd *cobra.Command, fn func(ctx context.Context, c *kvstore.Client) error) error {
	timeout, _ := cmd.Flags().GetDuration("timeout")
	cfg, err := clientConfig(cmd)
	if err != nil {
		return err
	}
	c, err := kvstore.NewClient(cfg)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return fn(ctx, c)
}

func writeOptions(cmd *cobra.Command) (kvstore.WriteOptions, error) {
	if !cmd.Flags().Changed("if-version") {
		return kvstore.WriteOptions{}, nil
	}
	v, err := cmd.Flags().GetUint64("if-version")
	return kvstore.WriteOptions{Conditional: true, IfVersion: v}, err
}

func newClientCommands(stdin io.Reader, stdout io.Writer) []*cobra.Command {
	put := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set KEY to VALUE (\"-\" reads the value from standard input); prints the write's index",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value := []byte(args[1])
			if args[1] == "-" {
				var err error
				if value, err = io.ReadAll(stdin); err != nil {
					return err
				}
			}
			opts, err := writeOptions(cmd)
			if err != nil {
				return err
			}
			return withClient(cmd, func(ctx context.Context, c *kvstore.Client) error {
				index, err := c.Put(ctx, args[0], value, opts)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(stdout, index)
				return err
			})
		},
	}
	put.Flags().Uint64("if-version", 0, "write only if the key is at this version (0: only if absent)")

	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Print KEY's value (linearizable unless --stale)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stale, _ := cmd.Flags().GetBool("stale")
			showVersion, _ := cmd.Flags().GetBool("show-version")
			return withClient(cmd, func(ctx context.Context, c *kvstore.Client) error {
				value, version, err := c.Get(ctx, args[0], stale)
				if err != nil {
					return err
				}
				if showVersion {
					if _, err := fmt.Fprintf(stdout, "version %d\n", version); err != nil {
						return err
					}
				}
				_, err = fmt.Fprintf(stdout, "%s\n", value)
				return err
			})
		},
	}
	get.Flags().Bool("stale", false, "read the node's local state without a quorum round")
	get.Flags().Bool("show-version", false, "print the key's version before its value")

	del := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY; prints the write's index",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := writeOptions(cmd)
			if err != nil {
				return err
			}
			return withClient(cmd, func(ctx context.Context, c *kvstore.Client) error {
				index, _, err := c.Delete(ctx, args[0], opts)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(stdout, index)
				return err
			})
		},
	}
	del.Flags().Uint64("if-version", 0, "delete only if the key is at this version")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys and their versions, one \"KEY<tab>VERSION\" line each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prefix, _ := cmd.Flags().GetString("prefix")
			limit, _ := cmd.Flags().GetInt("limit")
			stale, _ := cmd.Flags().GetBool("stale")
			return withClient(cmd, func(ctx context.Context, c *kvstore.Client) error {
				resp, err := c.List(ctx, prefix, limit, stale)
				if err != nil {
					return err
				}
				for _, k := range resp.Keys {
					if _, err := fmt.Fprintf(stdout, "%s\t%s\n", k.Key, strconv.FormatUint(k.Version, 10)); err != nil {
						return err
					}
				}
				if resp.More {
					fmt.Fprintln(cmd.ErrOrStderr(), "(more keys match; raise --limit)")
				}
				return nil
			})
		},
	}
	list.Flags().String("prefix", "", "only keys starting with this")
	list.Flags().Int("limit", 0, "at most this many keys (default: the server's, 1000)")
	list.Flags().Bool("stale", false, "read the node's local state without a quorum round")

	status := &cobra.Command{
		Use:   "status",
		Short: "Print the status of the first endpoint that answers, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, func(ctx context.Context, c *kvstore.Client) error {
				st, err := c.Status(ctx)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			})
		},
	}
	return []*cobra.Command{put, get, del, list, status}
}
