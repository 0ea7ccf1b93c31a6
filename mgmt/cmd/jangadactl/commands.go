package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/mgmt"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// Exit codes scripts can rely on.
const (
	exitOK           = 0
	exitError        = 1
	exitUsage        = 2
	exitUnauthorized = 3
	exitNotFound     = 4
	exitConflict     = 5
	exitUnavailable  = 6
	exitUnhealthy    = 7
)

// usageError marks errors in the command line.
type usageError struct{ error }

// unhealthyError reports a failing health check.
type unhealthyError struct{ error }

func exitCode(err error) int {
	var ue usageError
	var he unhealthyError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &he):
		return exitUnhealthy
	case errors.Is(err, mgmt.ErrUnauthorized), errors.Is(err, transportquic.ErrUntrustedPeer):
		// Refused by the handshake (a key the node does not trust, a wrong
		// cluster secret) or by the server.
		return exitUnauthorized
	case errors.Is(err, mgmt.ErrNotFound):
		return exitNotFound
	case errors.Is(err, mgmt.ErrConflict):
		return exitConflict
	case errors.Is(err, mgmt.ErrUnavailable), errors.Is(err, mgmt.ErrNoEndpoint),
		errors.Is(err, mgmt.ErrNotLeader), errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	return exitError
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, out io.Writer) (int, error) {
	root := newRoot(out)
	root.SetArgs(args)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.Execute()
	if err != nil {
		// cobra's own argument checks return plain errors.
		for _, prefix := range []string{"unknown command", "accepts ", "requires ", "invalid argument"} {
			if strings.HasPrefix(err.Error(), prefix) {
				err = usageError{err}
			}
		}
	}
	return exitCode(err), err
}

// globals are the flags every command shares.
type globals struct {
	endpoints  string
	secretFile string
	identity   string
	json       bool
	timeout    time.Duration
	out        io.Writer
	discover   string
}

func newRoot(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:   "jangadactl",
		Short: "Manage a jangada cluster over jangada/mgmt/1",
		Long: `jangadactl manages a running jangada cluster: status, membership, leadership,
snapshots, health and events, over the members' QUIC endpoints.

Exit codes: 0 success; 1 any other error; 2 bad usage; 3 unauthorized
(also: refused in the TLS handshake, e.g. a wrong secret or key); 4 not
found; 5 conflict; 6 unavailable (no leader, no endpoint answered,
timeout); 7 a health check fails.

Every flag can also be set by a JANGADACTL_* environment variable
(--cluster-secret-file is JANGADACTL_CLUSTER_SECRET_FILE).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromEnv(cmd); err != nil {
				return err
			}
			return g.applyDiscover(cmd)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.endpoints, "endpoints", "127.0.0.1:7001", "members' QUIC endpoints, HOST:PORT or KEY@HOST:PORT, comma-separated")
	f.StringVar(&g.secretFile, "cluster-secret-file", "", "file holding the cluster secret (the secret's holder is an admin)")
	f.StringVar(&g.identity, "identity", "", "ed25519 identity key file (made by keygen) to authenticate with")
	f.BoolVar(&g.json, "json", false, "print JSON for scripts instead of tables")
	f.DurationVar(&g.timeout, "timeout", 10*time.Second, "bound on the whole command (events --follow: on connecting)")
	f.StringVar(&g.discover, "discover", "", "find the endpoints instead of --endpoints: static:HOST:PORT[,…] or dns-srv:NAME[@RESOLVER_HOST:PORT]")

	member := &cobra.Command{Use: "member", Short: "List, add, promote and remove members"}
	member.AddCommand(memberListCmd(g), memberAddCmd(g), memberPromoteCmd(g), memberRemoveCmd(g))
	leader := &cobra.Command{Use: "leader", Short: "Move leadership"}
	leader.AddCommand(leaderTransferCmd(g))
	root.AddCommand(statusCmd(g), member, leader, snapshotCmd(g), healthCmd(g), eventsCmd(g), keygenCmd(g))
	root.AddCommand(backupCmd(g))
	root.AddCommand(deployCmd(g))
	root.AddCommand(ticketCmd(g), discoverCmd(g))
	return root
}

// fromEnv sets every flag not given on the command line from its
// JANGADACTL_* environment variable.
func fromEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "JANGADACTL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := f.Value.Set(v); e != nil {
				err = usageError{fmt.Errorf("%s: %w", name, e)}
			}
		}
	})
	return err
}

// dial builds the client's QUIC transport from the credentials and dials
// the endpoints.
func (g *globals) dial(ctx context.Context) (*mgmt.Client, func(), error) {
	endpoints, err := mgmt.ParseEndpoints(g.endpoints)
	if err != nil {
		return nil, nil, usageError{err}
	}
	if g.secretFile == "" && g.identity == "" {
		return nil, nil, usageError{errors.New("credentials needed: --cluster-secret-file FILE or --identity KEYFILE")}
	}
	var idBytes [8]byte
	_, _ = rand.Read(idBytes[:])
	// A raft id no member has: the tool is not a member, but in
	// cluster-secret mode its certificate carries an id.
	cfg := transportquic.Config{NodeID: 1<<62 | binary.BigEndian.Uint64(idBytes[:])>>2, ListenAddr: "127.0.0.1:0"}
	if g.identity != "" {
		if cfg.Identity, err = transportquic.LoadIdentity(g.identity); err != nil {
			return nil, nil, err
		}
	} else if cfg.Identity, err = transportquic.GenerateIdentity(); err != nil {
		return nil, nil, err
	}
	if g.secretFile != "" {
		secret, err := os.ReadFile(g.secretFile)
		if err != nil {
			return nil, nil, err
		}
		cfg.ClusterSecret = []byte(strings.TrimSpace(string(secret)))
	}
	tr, err := transportquic.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	cl, err := mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: tr})
	if err != nil {
		_ = tr.Close()
		return nil, nil, err
	}
	return cl, func() { _ = tr.Close() }, nil
}

// withClient runs fn with a client and the command's deadline.
func (g *globals) withClient(cmd *cobra.Command, fn func(ctx context.Context, cl *mgmt.Client) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	cl, closeFn, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer closeFn()
	return fn(ctx, cl)
}

func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (g *globals) table(header string, rows [][]string) {
	w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	_ = w.Flush()
}

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageError{fmt.Errorf("member id %q: want a positive integer", s)}
	}
	return id, nil
}

// jsonMember is a member as --json prints it.
type jsonMember struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	Role    string `json:"role"`
	Match   uint64 `json:"match"`
	Lag     uint64 `json:"lag"`
	Key     string `json:"key,omitempty"`
}

func jsonMembers(ms []mgmt.Member) []jsonMember {
	out := make([]jsonMember, 0, len(ms))
	for _, m := range ms {
		jm := jsonMember{ID: m.ID, Address: m.Address, Role: m.Role, Match: m.Match, Lag: m.Lag}
		if len(m.Key) > 0 {
			jm.Key = mgmt.FormatKey(m.Key)
		}
		out = append(out, jm)
	}
	return out
}

func memberRows(ms []mgmt.Member) [][]string {
	var rows [][]string
	for _, m := range ms {
		match, lag := "-", "-"
		if m.Progress {
			match, lag = strconv.FormatUint(m.Match, 10), strconv.FormatUint(m.Lag, 10)
		}
		rows = append(rows, []string{strconv.FormatUint(m.ID, 10), m.Address, m.Role, match, lag})
	}
	return rows
}

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the leader, term and members with their replication progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(struct {
						Leader  uint64       `json:"leader"`
						Term    uint64       `json:"term"`
						Node    uint64       `json:"node"`
						Commit  uint64       `json:"commit"`
						Applied uint64       `json:"applied"`
						Members []jsonMember `json:"members"`
					}{st.Leader, st.Term, st.ID, st.CommitIndex, st.AppliedIndex, jsonMembers(st.Members)})
				}
				fmt.Fprintf(g.out, "leader %d, term %d, commit %d (as node %d, %s, sees it)\n\n", st.Leader, st.Term, st.CommitIndex, st.ID, st.Role)
				g.table("ID\tADDRESS\tROLE\tMATCH\tLAG", memberRows(st.Members))
				return nil
			})
		},
	}
}

func memberListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				ms, err := cl.MemberList(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(jsonMembers(ms))
				}
				g.table("ID\tADDRESS\tROLE\tMATCH\tLAG", memberRows(ms))
				return nil
			})
		},
	}
}

func memberAddCmd(g *globals) *cobra.Command {
	var key string
	var learner bool
	cmd := &cobra.Command{
		Use:   "add ID ADDRESS",
		Short: "Add a member (as a learner with --learner; promote it once caught up)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			var k []byte
			if key != "" {
				if k, err = mgmt.ParseKey(key); err != nil {
					return usageError{err}
				}
			}
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				if err := cl.MemberAdd(ctx, id, args[1], k, learner); err != nil {
					return err
				}
				role := mgmt.RoleVoter
				if learner {
					role = mgmt.RoleLearner
				}
				return g.done(map[string]any{"id": id, "address": args[1], "role": role}, "added member %d at %s as a %s", id, args[1], role)
			})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the member's public identity key (needed unless members use a cluster secret)")
	cmd.Flags().BoolVar(&learner, "learner", false, "add as a non-voting learner")
	return cmd
}

func (g *globals) done(v any, format string, args ...any) error {
	if g.json {
		return g.printJSON(v)
	}
	fmt.Fprintf(g.out, format+"\n", args...)
	return nil
}

func memberPromoteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "promote ID",
		Short: "Make learner ID a voter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				if err := cl.MemberPromote(ctx, id); err != nil {
					return err
				}
				return g.done(map[string]any{"id": id, "role": mgmt.RoleVoter}, "promoted member %d to voter", id)
			})
		},
	}
}

func memberRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove member ID (a leader hands leadership away first); the id can never be used again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				if err := cl.MemberRemove(ctx, id); err != nil {
					return err
				}
				return g.done(map[string]any{"id": id, "removed": true}, "removed member %d", id)
			})
		},
	}
}

func leaderTransferCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "transfer [ID]",
		Short: "Hand leadership to voter ID, or to the most caught-up voter",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var to uint64
			if len(args) == 1 {
				var err error
				if to, err = parseID(args[0]); err != nil {
					return err
				}
			}
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				leader, err := cl.LeaderTransfer(ctx, to)
				if err != nil {
					return err
				}
				return g.done(map[string]any{"leader": leader}, "member %d leads", leader)
			})
		},
	}
}

func snapshotCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "snapshot",
		Short: "Make the first endpoint that answers take a snapshot now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				node, index, err := cl.Snapshot(ctx)
				if err != nil {
					return err
				}
				return g.done(map[string]any{"node": node, "index": index}, "node %d took a snapshot at index %d", node, index)
			})
		},
	}
}

func healthCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show every endpoint's health checks (exit code 7 when one fails)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				type report struct {
					Endpoint string             `json:"endpoint"`
					Checks   []mgmt.HealthCheck `json:"checks,omitempty"`
					Error    string             `json:"error,omitempty"`
				}
				var reports []report
				var rows [][]string
				failed := 0
				for _, e := range cl.Endpoints() {
					checks, err := cl.Health(ctx, e)
					r := report{Endpoint: e.Addr, Checks: checks}
					if err != nil {
						r.Error = err.Error()
						failed++
						rows = append(rows, []string{e.Addr, "-", mgmt.HealthFail, err.Error()})
					}
					for _, c := range checks {
						if c.Status == mgmt.HealthFail {
							failed++
						}
						rows = append(rows, []string{e.Addr, c.Name, c.Status, c.Message})
					}
					reports = append(reports, r)
				}
				if g.json {
					if err := g.printJSON(reports); err != nil {
						return err
					}
				} else {
					g.table("ENDPOINT\tCHECK\tSTATUS\tMESSAGE", rows)
				}
				if failed > 0 {
					return unhealthyError{fmt.Errorf("%d check(s) failed", failed)}
				}
				return nil
			})
		},
	}
}

func eventsCmd(g *globals) *cobra.Command {
	var follow bool
	var since uint64
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the cluster's events; --follow keeps streaming, --since SEQ resumes after a cluster event",
		Long: `Print events. Cluster events (membership changes) carry a sequence number,
their log index, which is the same on every node: --since SEQ resumes after
one, on whichever endpoint answers, with none missing and none repeated.
Node events (elections, snapshots, calls served) have sequence 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dialCtx, cancel := context.WithTimeout(ctx, g.timeout)
			defer cancel()
			cl, closeFn, err := g.dial(dialCtx)
			if err != nil {
				return err
			}
			defer closeFn()
			if !follow {
				ctx = dialCtx
			}
			enc := json.NewEncoder(g.out)
			err = cl.Events(ctx, mgmt.EventsOptions{Since: since, Follow: follow}, func(ev mgmt.Event) error {
				if g.json {
					return enc.Encode(ev)
				}
				_, err := fmt.Fprintf(g.out, "%s %s\n", ev.Time.Format(time.RFC3339Nano), ev)
				return err
			})
			if follow && errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return nil // stopped by Ctrl-C or SIGTERM
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep streaming new events, moving to another endpoint when one goes away")
	cmd.Flags().Uint64Var(&since, "since", 0, "resume after the cluster event with this sequence number")
	return cmd
}

func keygenCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make an ed25519 identity key (file mode 0600) and print its public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required")}
			}
			key, err := transportquic.GenerateIdentity()
			if err != nil {
				return err
			}
			pem, err := transportquic.MarshalIdentity(key)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(pem); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			pub := transportquic.FormatKey(key.Public().(ed25519.PublicKey))
			return g.done(map[string]any{"file": out, "public_key": pub}, "%s", pub)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to (must not exist)")
	return cmd
}
