package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
)

func ticketCmd(g *globals) *cobra.Command {
	ticket := &cobra.Command{Use: "ticket", Short: "Make join tickets (a new node joins with kvstore serve --join-ticket-file)"}
	ticket.AddCommand(ticketCreateCmd(g))
	return ticket
}

func ticketCreateCmd(g *globals) *cobra.Command {
	var (
		ttl  time.Duration
		role string
		id   uint64
		out  string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Print a join ticket: one node id, a role, an expiry, the members' addresses, signed with the cluster secret",
		Long: `Print a join ticket for one new node. The ticket names the cluster, the node id it
grants (the highest member id plus one unless --id), the role (a voter is promoted
by the leader once caught up), when it expires, and the members' addresses; it is
signed with a key derived from the cluster secret (--cluster-secret-file) and is
spent once the node has joined. It is a credential: write it to a file with --out
(mode 0600) and start the node with --join-ticket-file, or pass it in the
environment (KVSTORE_JOIN_TICKET); never on a command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role != discovery.RoleVoter && role != discovery.RoleLearner {
				return usageError{fmt.Errorf("--role %q: want learner or voter", role)}
			}
			if ttl <= 0 {
				return usageError{fmt.Errorf("--ttl %v: must be positive", ttl)}
			}
			if g.secretFile == "" {
				return usageError{errors.New("tickets are signed with the cluster secret: give --cluster-secret-file")}
			}
			secret, err := os.ReadFile(g.secretFile)
			if err != nil {
				return err
			}
			return g.withClient(cmd, func(ctx context.Context, cl *mgmt.Client) error {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				grant := id
				var addrs []string
				members := slices.Clone(st.Members)
				// Voters first: they are the ones that can add the node.
				slices.SortStableFunc(members, func(a, b mgmt.Member) int {
					return strings.Compare(b.Role, a.Role)
				})
				for _, m := range members {
					if id == 0 && m.ID >= grant {
						grant = m.ID + 1
					}
					if id != 0 && m.ID == id {
						return fmt.Errorf("%w: node %d is a member already", mgmt.ErrConflict, id)
					}
					if len(addrs) < 8 {
						addrs = append(addrs, m.Address)
					}
				}
				t, err := discovery.NewTicket([]byte(strings.TrimSpace(string(secret))), grant, role, ttl, addrs, time.Now())
				if err != nil {
					return usageError{err}
				}
				return g.printTicket(cmd, t, out)
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the ticket can be used")
	cmd.Flags().StringVar(&role, "role", discovery.RoleVoter, "what the node becomes: learner or voter (promoted automatically once caught up)")
	cmd.Flags().Uint64Var(&id, "id", 0, "the node id to grant (default: the highest member id plus one; removed ids are never reused)")
	cmd.Flags().StringVar(&out, "out", "", "write the ticket to this file (mode 0600) instead of printing it")
	return cmd
}

// printTicket prints t, or writes it to a private file.
func (g *globals) printTicket(cmd *cobra.Command, t discovery.Ticket, out string) error {
	expires := t.NotAfter.UTC().Format(time.RFC3339)
	if out == "" {
		if g.json {
			return g.printJSON(map[string]any{"ticket": t.String(), "node_id": t.NodeID, "role": t.Role, "expires": expires, "cluster": t.ClusterID})
		}
		fmt.Fprintln(g.out, t.String())
		fmt.Fprintf(cmd.ErrOrStderr(), "ticket for node %d as a %s of cluster %s, until %s\n", t.NodeID, t.Role, t.ClusterID, expires)
		return nil
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := fmt.Fprintln(f, t.String()); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return g.done(map[string]any{"file": out, "node_id": t.NodeID, "role": t.Role, "expires": expires, "cluster": t.ClusterID},
		"wrote a ticket for node %d as a %s of cluster %s, until %s, to %s", t.NodeID, t.Role, t.ClusterID, expires, out)
}

// applyDiscover replaces --endpoints with what --discover finds.
func (g *globals) applyDiscover(cmd *cobra.Command) error {
	if g.discover == "" {
		return nil
	}
	if cmd.Flags().Changed("endpoints") {
		return usageError{errors.New("give --endpoints or --discover, not both")}
	}
	src, err := discovery.ParseSource(g.discover)
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	eps, err := src.Discover(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", mgmt.ErrNoEndpoint, err)
	}
	if len(eps) == 0 {
		return fmt.Errorf("%w: %s found no node", mgmt.ErrNoEndpoint, src)
	}
	parts := make([]string, 0, len(eps))
	for _, ep := range eps {
		if len(ep.Key) > 0 {
			parts = append(parts, mgmt.FormatKey(ep.Key)+"@"+ep.Addr)
			continue
		}
		parts = append(parts, ep.Addr)
	}
	g.endpoints = strings.Join(parts, ",")
	return nil
}
