package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	storebadger "github.com/jangada-io/jangada/store-badger"
	storepebble "github.com/jangada-io/jangada/store-pebble"
	storesnapfile "github.com/jangada-io/jangada/store-snapfile"
	storewal "github.com/jangada-io/jangada/store-wal"
)

// backupCmd groups the backup verbs. Their transfers are bounded by
// Ctrl-C, not by --timeout, which bounds only reaching the cluster.
func backupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Create, list, verify and restore backups (a directory or s3://BUCKET/PREFIX)",
		Long: `Backups are consistent copies of the cluster's state at a linearizable read
index, taken from any member: a manifest and a zstd-compressed body, in a
directory or in S3-compatible storage (s3://BUCKET/PREFIX; endpoint and
credentials from the standard environment: AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or the shared AWS files).

restore works offline: it prepares the data directory of one node of a
brand-new cluster before its first start. Run it for every node of the new
cluster with the same --peers.`,
	}
	cmd.AddCommand(backupCreateCmd(g), backupListCmd(g), backupVerifyCmd(g), backupRestoreCmd(g))
	return cmd
}

func openTarget(location string) (backup.Target, error) {
	if location == "" {
		return nil, usageError{errors.New("a backup location is needed: a directory or s3://BUCKET/PREFIX")}
	}
	t, err := backup.OpenTarget(location)
	if errors.Is(err, backup.ErrInvalid) {
		return nil, usageError{err}
	}
	return t, err
}

// progress returns a progress callback drawing a bar on stderr when it is
// a terminal, and a function that finishes the bar; both do nothing
// otherwise. total is -1 when unknown.
func progress(total int64, what string) (func(int64), func()) {
	info, err := os.Stderr.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return nil, func() {}
	}
	bar := progressbar.DefaultBytes(total, what)
	return func(n int64) { _ = bar.Set64(n) }, func() { _ = bar.Finish() }
}

func backupCreateCmd(g *globals) *cobra.Command {
	var to, name, clusterID string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Back up the cluster's state (any member serves it) to --to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := openTarget(to)
			if err != nil {
				return err
			}
			if clusterID, err = g.backupClusterID(clusterID); err != nil {
				return err
			}
			dialCtx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			cl, closeFn, err := g.dial(dialCtx)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx := cmd.Context()
			// The copy is bounded by Ctrl-C only; the server bounds the
			// start of it (a read index round) by its call timeout.
			src := clusterState(cl)
			report, finish := progress(-1, "backing up")
			start := time.Now()
			m, err := backup.Create(ctx, target, src, backup.CreateOptions{Name: name, ClusterID: clusterID, Progress: report})
			finish()
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			return g.done(m, "backup %s: index %d from node %d, %d bytes of state (%d stored) to %s in %v, %.1f MB/s",
				m.Name, m.Index, m.Node, m.StateSize, m.BodySize, target, elapsed.Round(time.Millisecond), float64(m.StateSize)/1e6/elapsed.Seconds())
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "where to store the backup: a directory or s3://BUCKET/PREFIX (required)")
	cmd.Flags().StringVar(&name, "name", "", "the backup's name (default: its creation time and index)")
	cmd.Flags().StringVar(&clusterID, "cluster-id", "", "the cluster's id for the manifest, when no --cluster-secret-file gives it")
	return cmd
}

// backupClusterID is the cluster id a backup's manifest records: the id
// of the cluster whose secret the tool holds (discovery.ClusterID, as join
// tickets show it), else the --cluster-id given, else "". A --cluster-id
// that is not the secret's cluster is refused.
func (g *globals) backupClusterID(flag string) (string, error) {
	if g.secretFile == "" {
		return flag, nil
	}
	secret, err := os.ReadFile(g.secretFile)
	if err != nil {
		return "", err
	}
	id := discovery.ClusterID([]byte(strings.TrimSpace(string(secret))))
	if flag != "" && flag != id {
		return "", usageError{fmt.Errorf("--cluster-id %s is not the id of the cluster whose secret --cluster-secret-file holds (%s)", flag, id)}
	}
	return id, nil
}

// clusterState is the cluster's state as a backup source: a compressed
// state copy from the first member that answers, stored as it arrives.
func clusterState(cl *mgmt.Client) backup.Source {
	return backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		r, err := cl.StateCompressed(ctx)
		if err != nil {
			return backup.State{}, err
		}
		return backup.State{
			Node: r.Info.Node, Index: r.Info.Index, Term: r.Info.Term,
			Members: backupMembers(r.Info.Members), StateMachine: r.Info.StateMachine, Body: r,
		}, nil
	})
}

func backupMembers(ms []mgmt.Member) []backup.Member {
	out := make([]backup.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, backup.Member{ID: m.ID, Address: m.Address, Role: m.Role})
	}
	return out
}

func backupListCmd(g *globals) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the complete backups in --from, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := openTarget(from)
			if err != nil {
				return err
			}
			all, err := backup.List(cmd.Context(), target)
			if g.json {
				if all == nil {
					all = []backup.Manifest{}
				}
				if perr := g.printJSON(all); perr != nil {
					return perr
				}
				return err
			}
			var rows [][]string
			for _, m := range all {
				rows = append(rows, []string{m.Name, m.CreatedAt.Format(time.RFC3339), strconv.FormatUint(m.Index, 10),
					m.StateMachine, strconv.FormatInt(m.StateSize, 10), strconv.FormatInt(m.BodySize, 10)})
			}
			g.table("NAME\tCREATED\tINDEX\tSTATE MACHINE\tSTATE BYTES\tSTORED BYTES", rows)
			return err
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the backups' location: a directory or s3://BUCKET/PREFIX (required)")
	return cmd
}

func backupVerifyCmd(g *globals) *cobra.Command {
	var name, stateMachine string
	cmd := &cobra.Command{
		Use:   "verify DIR|s3://BUCKET/PREFIX",
		Short: "Read a backup whole and check it against its manifest (the newest unless --backup)",
		Long: `verify reads the backup's body whole and checks the sizes and SHA-256 sums of the
stored body and of the decompressed state against the manifest. It exits 1 with
an error naming what differs for a corrupt, truncated or foreign backup.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := openTarget(args[0])
			if err != nil {
				return err
			}
			total := int64(-1)
			if name != "" {
				if m, err := backup.ReadManifest(cmd.Context(), target, name); err == nil {
					total = m.BodySize
				}
			}
			report, finish := progress(total, "verifying")
			m, err := backup.Verify(cmd.Context(), target, name, backup.VerifyOptions{StateMachine: stateMachine, Progress: report})
			finish()
			if err != nil {
				return err
			}
			return g.done(m, "backup %s is intact: index %d, term %d, state machine %q, %d bytes of state, sha256 %s",
				m.Name, m.Index, m.Term, m.StateMachine, m.StateSize, m.StateSHA256)
		},
	}
	cmd.Flags().StringVar(&name, "backup", "", "the backup's name (default: the newest)")
	cmd.Flags().StringVar(&stateMachine, "state-machine", "", "refuse a backup of another state machine than this one")
	return cmd
}

func backupRestoreCmd(g *globals) *cobra.Command {
	var from, name, dataDir, peers, store, stateMachine string
	var id uint64
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Prepare a new node's data directory from a backup (offline, before its first start)",
		Long: `restore writes a backup (the newest unless --backup) into the empty data
directory of one node of a brand-new cluster whose members are --peers, in the
layout the kvstore app reads with --store (pebble, badger or wal). Run it for every
node of the new cluster, then start them with the same --peers. It refuses a
backup of another state machine than --state-machine, a damaged one, and a data
directory that already holds a log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := openTarget(from)
			if err != nil {
				return err
			}
			voters, err := parseVoters(peers, id)
			if err != nil {
				return err
			}
			if dataDir == "" {
				return usageError{errors.New("--data-dir is required")}
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return err
			}
			ls, ss, err := openStores(store, dataDir)
			if err != nil {
				return err
			}
			total := int64(-1)
			if name != "" {
				if m, err := backup.ReadManifest(cmd.Context(), target, name); err == nil {
					total = m.BodySize
				}
			}
			report, finish := progress(total, "restoring")
			m, err := backup.Restore(cmd.Context(), target, name, backup.RestoreOptions{
				StateMachine: stateMachine, LogStore: ls, SnapshotStore: ss, Voters: voters, Progress: report,
			})
			finish()
			if cerr := ls.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close log store: %w", cerr)
			}
			if err != nil {
				return err
			}
			return g.done(m, "restored backup %s (index %d) into %s for node %d of %d", m.Name, m.Index, dataDir, id, len(voters))
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the backups' location: a directory or s3://BUCKET/PREFIX (required)")
	f.StringVar(&name, "backup", "", "the backup's name (default: the newest)")
	f.StringVar(&dataDir, "data-dir", "", "the new node's data directory (required; created with mode 0700)")
	f.Uint64Var(&id, "id", 0, "the new node's raft id (required; one of --peers)")
	f.StringVar(&peers, "peers", "", "the new cluster's members, ID=HOST:PORT or ID=KEY@HOST:PORT, comma-separated (required)")
	f.StringVar(&store, "store", "pebble", "the log store the node will run with: pebble, badger or wal")
	f.StringVar(&stateMachine, "state-machine", "kvstore", "the application's state machine; a backup of another is refused")
	return cmd
}

func parseVoters(s string, id uint64) ([]raftcore.Peer, error) {
	if id == 0 {
		return nil, usageError{errors.New("--id is required")}
	}
	if s == "" {
		return nil, usageError{errors.New("--peers is required")}
	}
	voters, err := mgmt.ParseEndpoints(s)
	if err != nil {
		return nil, usageError{err}
	}
	for _, p := range voters {
		if p.ID == 0 {
			return nil, usageError{fmt.Errorf("peer %s has no id: want ID=HOST:PORT", p.Addr)}
		}
	}
	if !slices.ContainsFunc(voters, func(p raftcore.Peer) bool { return p.ID == id }) {
		return nil, usageError{fmt.Errorf("--peers does not include this node's id %d", id)}
	}
	return voters, nil
}

// openStores opens the stores of dataDir as the kvstore app lays them out:
// the log in raft/, snapshots in snapshots/.
func openStores(store, dataDir string) (raftcore.LogStore, raftcore.SnapshotStore, error) {
	raftDir, snapDir := filepath.Join(dataDir, "raft"), filepath.Join(dataDir, "snapshots")
	var ls raftcore.LogStore
	var ss raftcore.SnapshotStore
	var err error
	switch store {
	case "pebble":
		if ls, err = storepebble.Open(storepebble.Config{Dir: raftDir}); err == nil {
			ss, err = storepebble.OpenSnapshotStore(storepebble.SnapshotConfig{Dir: snapDir})
		}
	case "badger":
		if ls, err = storebadger.Open(storebadger.Config{Dir: raftDir}); err == nil {
			ss, err = storebadger.OpenSnapshotStore(storebadger.SnapshotConfig{Dir: snapDir})
		}
	case "wal":
		if ls, err = storewal.Open(storewal.Config{Dir: raftDir}); err == nil {
			ss, err = storesnapfile.OpenSnapshotStore(storesnapfile.SnapshotConfig{Dir: snapDir})
		}
	default:
		return nil, nil, usageError{fmt.Errorf("--store %q: want pebble, badger or wal", store)}
	}
	if err != nil {
		if ls != nil {
			err = errors.Join(err, ls.Close())
		}
		return nil, nil, fmt.Errorf("open the %s stores in %s: %w", store, dataDir, err)
	}
	return ls, ss, nil
}
