package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/deploy"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// conflictError reports a step refused to keep the quorum (exit code 5).
type conflictError struct{ error }

func (conflictError) Is(target error) bool { return target == mgmt.ErrConflict }

// deployError gives deploy's errors jangadactl's exit codes: a bad config
// is bad usage (2), a refused step a conflict (5), a failed health gate
// unhealthy (7).
func deployError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, deploy.ErrInvalidConfig):
		return usageError{err}
	case errors.Is(err, deploy.ErrQuorum), errors.Is(err, deploy.ErrLocked), errors.Is(err, deploy.ErrNoSlot):
		return conflictError{err}
	case errors.Is(err, deploy.ErrHealthGate):
		return unhealthyError{err}
	}
	return err
}

// deployCmd is `jangadactl deploy …`: the deployment config's cluster, run
// by the local driver or rendered for systemd and Kubernetes.
func deployCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Run a cluster from a deployment config: up, down, status, update, scale, render",
		Long: `deploy runs the cluster a deployment config (YAML, -f) describes.

The local driver (up, down, status, update, scale) runs every node as a
background process on this machine, with logs, pid files and copies of the
binaries under the config's state_dir. update restarts the members on a new
binary one at a time, followers first and the leader last after handing its
leadership away, each only once the previous one is healthy and caught up;
a node that fails its health gate halts the update, and --rollback restores
the previous binary. No step may leave fewer healthy voters than a quorum.

render writes systemd units and env files, or Kubernetes manifests, for the
same config. update --target kubernetes --image IMAGE updates the rendered
StatefulSet: its partition is stepped down one ordinal at a time behind the
same gates, the leader last; --rollback restores the previous image. Exit
codes as for every command; a failed health gate is 7.`,
	}
	cmd.PersistentFlags().StringVarP(&file, "file", "f", "cluster.yaml", "the deployment config (YAML)")
	load := func() (*deploy.Config, error) {
		cfg, err := deploy.Load(file)
		return cfg, deployError(err)
	}
	local := func(cfg *deploy.Config) (*deploy.Local, error) {
		secret, err := cfg.ClusterSecret()
		if err != nil {
			return nil, usageError{fmt.Errorf("cluster_secret_file: %w", err)}
		}
		l, err := deploy.NewLocal(cfg, deploy.LocalConfig{
			Dial: quicDial(secret),
			Progress: func(p deploy.Progress) {
				if !g.json {
					fmt.Fprintf(g.out, "%s %s\n", time.Now().Format("15:04:05.000"), p)
				}
			},
		})
		return l, deployError(err)
	}
	// run gives an operation the command's context, bounded by --timeout
	// only when it was set (deploy steps have their own bounds).
	run := func(cmd *cobra.Command, fn func(ctx context.Context, l *deploy.Local) error) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		l, err := local(cfg)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if cmd.Flags().Changed("timeout") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, g.timeout)
			defer cancel()
		}
		return deployError(fn(ctx, l))
	}

	up := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster (bootstrap on first use) and wait until every member is healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				if err := l.Up(ctx); err != nil {
					return err
				}
				return g.done(map[string]any{"up": true}, "cluster is up")
			})
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every node gracefully; data and state are kept for the next up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				if err := l.Down(ctx); err != nil {
					return err
				}
				return g.done(map[string]any{"down": true}, "cluster is down")
			})
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each node's process, binary, version, role and lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				st, err := l.Status(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(st)
				}
				leader := "no leader known"
				if st.Leader != 0 {
					leader = fmt.Sprintf("leader %d, term %d", st.Leader, st.Term)
				}
				fmt.Fprintf(g.out, "cluster %s: %s, binary %s", st.Cluster, leader, st.Binary)
				if st.Previous != "" {
					fmt.Fprintf(g.out, " (previous %s)", st.Previous)
				}
				fmt.Fprintln(g.out)
				if st.Error != "" {
					fmt.Fprintf(g.out, "cluster view unavailable: %s\n", st.Error)
				}
				fmt.Fprintln(g.out)
				var rows [][]string
				for _, n := range st.Nodes {
					pid, role, lag := "-", n.Role, strconv.FormatUint(n.Lag, 10)
					if n.Running {
						pid = strconv.Itoa(n.PID)
					}
					if role == "" {
						role, lag = "-", "-"
					}
					member := "no"
					if n.Member {
						member = "yes"
					}
					version := n.Version
					if version == "" {
						version = "-"
					}
					rows = append(rows, []string{strconv.FormatUint(n.ID, 10), n.RaftAddr, n.HTTPAddr, member, pid, role, lag, n.Binary, version})
				}
				g.table("ID\tRAFT\tHTTP\tMEMBER\tPID\tROLE\tLAG\tBINARY\tVERSION", rows)
				return nil
			})
		},
	}
	var binaryPath string
	var rollback bool
	var kf kubeUpdateFlags
	update := &cobra.Command{
		Use:   "update --binary PATH | --target kubernetes --image IMAGE | --rollback",
		Short: "Rolling update of every member to a new binary (or image), or back to the previous one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch kf.target {
			case "local":
				if kf.image != "" || kf.kubeconfig != "" || kf.context != "" {
					return usageError{errors.New("--image, --kubeconfig and --context go with --target kubernetes")}
				}
			case deploy.TargetKubernetes:
				if binaryPath != "" {
					return usageError{errors.New("--target kubernetes updates to an --image, not a --binary")}
				}
				cfg, err := load()
				if err != nil {
					return err
				}
				return kubeUpdate(cmd, g, cfg, kf, rollback)
			default:
				return usageError{fmt.Errorf("--target %q: want local or kubernetes", kf.target)}
			}
			if (binaryPath == "") == !rollback {
				return usageError{errors.New("give --binary PATH or --rollback")}
			}
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				var rep *deploy.UpdateReport
				var err error
				if rollback {
					rep, err = l.Rollback(ctx)
				} else {
					rep, err = l.RollingUpdate(ctx, binaryPath)
				}
				if err != nil {
					return err
				}
				return g.done(map[string]any{"from": rep.From, "to": rep.To, "updated": rep.Updated, "seconds": rep.Total.Seconds()},
					"updated nodes %v to %s in %v", rep.Updated, rep.To, rep.Total.Round(time.Millisecond))
			})
		},
	}
	update.Flags().StringVar(&binaryPath, "binary", "", "the new build of the app")
	update.Flags().BoolVar(&rollback, "rollback", false, "restore the binary the cluster ran before the last update")
	addKubeUpdateFlags(update, &kf)
	var wipe bool
	scale := &cobra.Command{
		Use:   "scale N",
		Short: "Grow (learner, catch up, promote) or shrink (hand off, remove, stop) the cluster to N voters",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("scale %q: want a positive number of voters", args[0])}
			}
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				if wipe {
					return usageError{errors.New("--wipe applies to remove")}
				}
				if err := l.Scale(ctx, n); err != nil {
					return err
				}
				return g.done(map[string]any{"voters": n}, "cluster has %d voters", n)
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove member ID (hand off if it leads, remove, stop; --wipe deletes its data)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return run(cmd, func(ctx context.Context, l *deploy.Local) error {
				if err := l.RemoveNode(ctx, id, wipe); err != nil {
					return err
				}
				return g.done(map[string]any{"removed": id}, "removed node %d", id)
			})
		},
	}
	remove.Flags().BoolVar(&wipe, "wipe", false, "delete the node's data directory after it stopped")
	var target, outDir string
	render := &cobra.Command{
		Use:   "render --target systemd|kubernetes -o DIR",
		Short: "Write systemd units and env files, or Kubernetes manifests, for the config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return usageError{errors.New("-o DIR is required")}
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			files, err := deploy.Render(cfg, target)
			if err != nil {
				return deployError(err)
			}
			if err := deploy.WriteFiles(outDir, files); err != nil {
				return err
			}
			var names []string
			for _, f := range files {
				names = append(names, f.Path)
			}
			return g.done(map[string]any{"dir": outDir, "files": names}, "wrote %s to %s", strings.Join(names, ", "), outDir)
		},
	}
	render.Flags().StringVar(&target, "target", deploy.TargetKubernetes, "systemd or kubernetes")
	render.Flags().StringVarP(&outDir, "out", "o", "", "directory to write the files to")
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the config and print every problem found",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return g.done(map[string]any{"valid": true, "cluster": cfg.ClusterName}, "%s: valid (%s, %d voters)", file, cfg.Environment, cfg.Replicas)
		},
	}
	handoff := &cobra.Command{
		Use:   "handoff",
		Short: "If the first endpoint leads, hand its leadership to the most caught-up voter (a Kubernetes preStop hook)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			endpoints, err := mgmt.ParseEndpoints(g.endpoints)
			if err != nil {
				return usageError{err}
			}
			if g.secretFile == "" {
				return usageError{errors.New("--cluster-secret-file FILE is required")}
			}
			secret, err := os.ReadFile(g.secretFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			// Only the first endpoint: the node this hook runs beside.
			cl, closeFn, err := quicDial([]byte(strings.TrimSpace(string(secret))))(ctx, endpoints[:1])
			if err != nil {
				return err
			}
			defer closeFn()
			{
				self := cl.Endpoints()[0]
				st, err := cl.NodeStatus(ctx, self)
				if err != nil {
					return err
				}
				if st.Role != "leader" {
					return g.done(map[string]any{"node": st.ID, "leader": st.Leader, "moved": false}, "node %d does not lead (leader %d): nothing to hand off", st.ID, st.Leader)
				}
				leader, err := cl.LeaderTransfer(ctx, 0)
				if err != nil {
					return err
				}
				return g.done(map[string]any{"node": st.ID, "leader": leader, "moved": true}, "node %d handed leadership to node %d", st.ID, leader)
			}
		},
	}
	cmd.AddCommand(up, down, status, update, scale, remove, render, validate, handoff)
	return cmd
}

// quicDial returns a deploy.DialFunc that reaches the nodes over a QUIC
// transport of its own per call, authenticated by the cluster secret.
func quicDial(secret []byte) deploy.DialFunc {
	return func(ctx context.Context, endpoints []raftcore.Peer) (*mgmt.Client, func(), error) {
		var idBytes [8]byte
		_, _ = rand.Read(idBytes[:])
		key, err := transportquic.GenerateIdentity()
		if err != nil {
			return nil, nil, err
		}
		tr, err := transportquic.New(transportquic.Config{
			NodeID: 1<<62 | binary.BigEndian.Uint64(idBytes[:])>>2, Identity: key,
			ListenAddr: listenAddrFor(endpoints), ClusterSecret: secret,
		})
		if err != nil {
			return nil, nil, err
		}
		cl, err := mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: tr, MaxRetries: 3, RetryBackoff: 50 * time.Millisecond})
		if err != nil {
			_ = tr.Close()
			return nil, nil, err
		}
		return cl, func() { _ = tr.Close() }, nil
	}
}

// listenAddrFor is the client transport's address: loopback when every
// endpoint is on loopback, every interface otherwise.
func listenAddrFor(endpoints []raftcore.Peer) string {
	for _, e := range endpoints {
		host, _, err := net.SplitHostPort(e.Addr)
		if err != nil {
			return ":0"
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback() || ip.To4() == nil) {
			return ":0"
		}
	}
	return "127.0.0.1:0"
}
