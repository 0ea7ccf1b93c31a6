package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/apps/bank"
	"github.com/jangada-io/jangada/apps/kvstore/app/serveflags"
)

// exitError carries a process exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// run executes the command line args and returns the exit code.
func run(args []string) (int, error) {
	root := newRootCommand(os.Stdout)
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

func newRootCommand(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "bank",
		Short:         "A replicated bank on jangada (Raft over QUIC), with exactly-once transfers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnvironment(cmd)
		},
	}
	root.SetOut(stdout)
	root.AddCommand(newServeCommand())
	for _, c := range newClientCommands(stdout) {
		c.Flags().String("endpoints", "127.0.0.1:8001", "comma-separated HTTP addresses of the nodes")
		c.Flags().Duration("timeout", 30*time.Second, "bound on the whole request, retries included")
		c.Flags().String("token-file", "", "file holding a bearer token of the API (mode 0600)")
		root.AddCommand(c)
	}
	return root
}

// withClient runs fn with a client for the command's --endpoints, bounded
// by --timeout.
func withClient(cmd *cobra.Command, fn func(ctx context.Context, c *bank.Client) error) error {
	f := cmd.Flags()
	endpoints, _ := f.GetString("endpoints")
	timeout, _ := f.GetDuration("timeout")
	cfg := bank.ClientConfig{Endpoints: strings.Split(endpoints, ",")}
	if path, _ := f.GetString("token-file"); path != "" {
		token, err := serveflags.ReadSecretFile(path)
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		cfg.Token = token
	}
	c, err := bank.NewClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return fn(ctx, c)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func parseAmount(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: amount %q is not a whole number of at least 0", bank.ErrInvalid, s)
	}
	return v, nil
}

// idempotencyKey returns --key, or a new key.
func idempotencyKey(cmd *cobra.Command) string {
	if key, _ := cmd.Flags().GetString("key"); key != "" {
		return key
	}
	return bank.NewIdempotencyKey()
}

func newClientCommands(stdout io.Writer) []*cobra.Command {
	create := &cobra.Command{
		Use:   "create-account ID BALANCE",
		Short: "Open account ID with BALANCE (retried safely until it has an answer)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			balance, err := parseAmount(args[1])
			if err != nil {
				return err
			}
			return withClient(cmd, func(ctx context.Context, c *bank.Client) error {
				res, err := c.CreateAccount(ctx, args[0], balance, idempotencyKey(cmd))
				if err != nil {
					return err
				}
				return printJSON(stdout, res)
			})
		},
	}
	transfer := &cobra.Command{
		Use:   "transfer FROM TO AMOUNT",
		Short: "Move AMOUNT from FROM to TO, at most once however often it is retried; exit code 3 for insufficient funds",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount(args[2])
			if err != nil {
				return err
			}
			return withClient(cmd, func(ctx context.Context, c *bank.Client) error {
				res, err := c.Transfer(ctx, args[0], args[1], amount, idempotencyKey(cmd))
				if errors.Is(err, bank.ErrInsufficientFunds) {
					fmt.Fprintln(cmd.ErrOrStderr(), "bank: insufficient funds")
					return exitError{code: 3}
				}
				if err != nil {
					return err
				}
				return printJSON(stdout, res)
			})
		},
	}
	for _, c := range []*cobra.Command{create, transfer} {
		c.Flags().String("key", "", "idempotency key: a retry of this command with the same key applies nothing new (default: a new random key)")
	}
	accounts := &cobra.Command{
		Use:   "accounts",
		Short: "Print every balance and their total, as of one log index (linearizable)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, func(ctx context.Context, c *bank.Client) error {
				res, err := c.Accounts(ctx)
				if err != nil {
					return err
				}
				return printJSON(stdout, res)
			})
		},
	}
	account := &cobra.Command{
		Use:   "account ID",
		Short: "Print account ID's balance (linearizable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd, func(ctx context.Context, c *bank.Client) error {
				res, err := c.Account(ctx, args[0])
				if err != nil {
					return err
				}
				return printJSON(stdout, res)
			})
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the first endpoint's raft status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd, func(ctx context.Context, c *bank.Client) error {
				res, err := c.Status(ctx)
				if err != nil {
					return err
				}
				return printJSON(stdout, res)
			})
		},
	}
	return []*cobra.Command{create, transfer, accounts, account, status}
}
