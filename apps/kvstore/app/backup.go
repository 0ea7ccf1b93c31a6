package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/backup"
	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/observe"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// StateMachineName names the kvstore's state machine in backups: a backup
// of another application is refused at restore.
const StateMachineName = "kvstore"

// MaxBackupJitter bounds the random delay of a scheduled backup, which
// is also at most a tenth of the schedule's period, so that the clusters
// of one schedule do not all start at once.
const MaxBackupJitter = time.Minute

// validateBackup checks the scheduled-backup fields of c.
func (c Config) validateBackup() error {
	if c.BackupSchedule == "" {
		if c.BackupTo != "" || c.BackupRetain != "" {
			return fmt.Errorf("%w: backup target and retention need a backup schedule", ErrInvalidConfig)
		}
		return nil
	}
	if c.BackupTo == "" {
		return fmt.Errorf("%w: a backup schedule needs a target (a directory or s3://BUCKET/PREFIX)", ErrInvalidConfig)
	}
	if _, err := backup.ParseRetention(c.BackupRetain); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := backup.ValidateSchedule(c.BackupSchedule); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// BackupNode is what backups read from a running raft node (a
// raftcore.Node of any state machine).
type BackupNode interface {
	ID() uint64
	IsLeader() bool
	OpenState(ctx context.Context) (raftcore.StateCopy, error)
}

// BackupSource is the application's node as scheduled backups see it.
type BackupSource struct {
	// Node returns the running node; it is called once the node started.
	Node func() BackupNode
	// StateMachine names the application's state machine in its backups.
	StateMachine string
}

// NodeState is a backup.Source of node's own state (OpenState: a read
// index round, then a snapshot at the applied index), labelled with the
// application's state machine.
func NodeState(node BackupNode, stateMachine string) backup.Source {
	return backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		sc, err := node.OpenState(ctx)
		if err != nil {
			return backup.State{}, err
		}
		learner := map[uint64]bool{}
		for _, id := range sc.Learners {
			learner[id] = true
		}
		members := make([]backup.Member, 0, len(sc.Members))
		for _, p := range sc.Members {
			role := "voter"
			if learner[p.ID] {
				role = "learner"
			}
			members = append(members, backup.Member{ID: p.ID, Address: p.Addr, Role: role})
		}
		return backup.State{
			Node: node.ID(), Index: sc.Meta.Index, Term: sc.Meta.Term, Members: members,
			StateMachine: stateMachine, Body: sc,
		}, nil
	})
}

// BackupParams are what scheduled backups are built from.
type BackupParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Config
	Source    BackupSource
	Observer  *observe.Observer `optional:"true"`
	Logger    *slog.Logger
	// Events records the attempts in the management server's history.
	Events *BackupEvents
}

// backupOption runs scheduled backups when Config.BackupSchedule is set:
// every member runs the schedule, and only the leader backs up when a run
// is due.
func backupOption(cfg Config) fx.Option {
	if cfg.BackupSchedule == "" {
		return fx.Options()
	}
	return fx.Options(fx.Provide(newBackupEvents), fx.Invoke(startBackups))
}

// kvstoreBackupSource is the key-value store's BackupSource.
func kvstoreBackupSource(r *Replica) BackupSource {
	return BackupSource{Node: func() BackupNode { return r.Node() }, StateMachine: StateMachineName}
}

func startBackups(p BackupParams) error {
	target, err := backup.OpenTarget(p.Config.BackupTo)
	if err != nil {
		return fmt.Errorf("backup target: %w", err)
	}
	retention, _ := backup.ParseRetention(p.Config.BackupRetain)
	log := p.Logger.With("component", "backup")
	obs := p.Observer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			node := p.Source.Node()
			jitter, err := backupJitter(p.Config.BackupSchedule)
			if err != nil {
				return err
			}
			s, err := backup.NewScheduler(backup.ScheduleConfig{
				Schedule: p.Config.BackupSchedule, Jitter: jitter,
				Target: target, Source: NodeState(node, p.Source.StateMachine), IsLeader: node.IsLeader,
				Retention: retention, Logger: log,
				ClusterID: backupClusterID(p.Config),
				OnResult: func(r backup.Result) {
					p.Events.record(r)
					switch {
					case obs == nil || r.Skipped:
					case r.Err == nil:
						obs.BackupSucceeded(r.Started.Add(r.Duration), r.Duration, r.Manifest.BodySize)
					case r.Final:
						obs.BackupFailed()
					}
				},
			})
			if err != nil {
				return err
			}
			log.Info("scheduled backups", "schedule", p.Config.BackupSchedule, "target", target.String(), "retention", retention.String(),
				"next", s.Next(time.Now()).Format(time.RFC3339))
			go func() {
				defer close(done)
				_ = s.Run(ctx)
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stopCtx.Done():
				return stopCtx.Err()
			}
		},
	})
	return nil
}

// backupClusterID is the id of the cluster whose secret the node holds, as
// join tickets show it (discovery.ClusterID): the cluster id of its
// backups' manifests. "" without a cluster secret.
func backupClusterID(c Config) string {
	if c.ClusterSecret == "" {
		return ""
	}
	return discovery.ClusterID([]byte(c.ClusterSecret))
}

// backupJitter is MaxBackupJitter or a tenth of the schedule's period,
// whichever is shorter.
func backupJitter(schedule string) (time.Duration, error) {
	probe, err := backup.NewScheduler(backup.ScheduleConfig{
		Schedule: schedule, Target: &backup.DirTarget{}, Source: backup.SourceFunc(nil), IsLeader: func() bool { return false },
	})
	if err != nil {
		return 0, err
	}
	first := probe.Next(time.Now())
	return min(MaxBackupJitter, probe.Next(first).Sub(first)/10), nil
}
