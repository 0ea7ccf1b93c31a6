package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/discovery"
)

// addDiscoveryFlags adds the serve flags of discovery, join tickets and the
// autopilot.
func addDiscoveryFlags(f *pflag.FlagSet) {
	f.String("discover", "", "find the other nodes: static:HOST:PORT[,HOST:PORT…] or dns-srv:NAME[@RESOLVER_HOST:PORT]; with --bootstrap-expect a fresh node forms a new cluster or joins the one it finds")
	f.Int("bootstrap-expect", 0, "number of voters a cluster formed by --discover starts with; fewer visible nodes wait")
	f.String("join-ticket", "", "join the cluster a ticket (jangadactl ticket create) names; visible in ps: prefer --join-ticket-file or KVSTORE_JOIN_TICKET")
	f.String("join-ticket-file", "", "file holding a join ticket (mode 0600)")
	f.Bool("autopilot-promote", true, "the leader promotes learners that joined as voters once caught up")
	f.Uint64("autopilot-max-lag", discovery.DefaultMaxLag, "entries a learner may be behind the leader's commit index to count as caught up")
	f.Duration("autopilot-stabilization", discovery.DefaultStabilizationTime, "how long a learner stays caught up before it is promoted")
	f.Duration("autopilot-dead-voter-timeout", 0, "remove a voter unreachable this long, when --autopilot-min-voters remain with a quorum reachable (0: never)")
	f.Int("autopilot-min-voters", discovery.DefaultMinVoters, "fewest voters the removal of dead voters leaves")
}

// applyDiscoveryFlags sets cfg's discovery fields from the flags. A join
// ticket sets the node id unless --id (or KVSTORE_ID) names one.
func applyDiscoveryFlags(cmd *cobra.Command, cfg *app.Config) error {
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
	if _, env := os.LookupEnv(envName("id")); !f.Changed("id") && !env {
		cfg.NodeID = t.NodeID
	}
	return nil
}

// startContext bounds the start of the node: a minute, or, when the node
// may wait for others to form a cluster (--discover), until SIGINT or
// SIGTERM.
func startContext(cfg app.Config) (context.Context, context.CancelFunc) {
	if cfg.Discover != "" {
		return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	}
	return context.WithTimeout(context.Background(), time.Minute)
}
