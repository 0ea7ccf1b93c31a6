package app

import (
	"context"
	"fmt"
	"log/slog"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/mgmt"
	"github.com/jangada-io/jangada/observe"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// MountMgmt serves jangada/mgmt/1 for node on tr, the node's own transport
// (over QUIC: the same UDP endpoint as raft, selected by ALPN). Admins are
// the holders of cfg.AdminKeys and, in cluster-secret mode, of the secret;
// members may read. health, when not nil, answers the Health call. It is
// the plain function behind the fx option; the caller closes the server
// before the node. stateMachine names the application's state machine in
// the state copies it serves (backups): a backup of another application is
// refused at restore.
func MountMgmt(tr raftcore.Transport, node mgmt.Node, cfg Config, health mgmt.HealthChecker, log *slog.Logger, stateMachine string) (*mgmt.Server, error) {
	st, ok := tr.(raftcore.StreamTransport)
	if !ok {
		return nil, fmt.Errorf("management: transport %T carries no streams", tr)
	}
	admins := make([][]byte, 0, len(cfg.AdminKeys))
	for _, k := range cfg.AdminKeys {
		admins = append(admins, []byte(k))
	}
	return mgmt.Mount(st, node, mgmt.ServerConfig{
		AdminKeys:              admins,
		SecretHoldersAreAdmins: cfg.ClusterSecret != "",
		Health:                 health,
		Logger:                 log,
		StateMachine:           stateMachine,
	})
}

// ObserverHealth answers the management Health call with the observe
// checks (the same as GET /health).
type ObserverHealth struct{ Observer *observe.Observer }

// Health implements mgmt.HealthChecker.
func (h ObserverHealth) Health(ctx context.Context) []mgmt.HealthCheck {
	report := h.Observer.Health(ctx)
	out := make([]mgmt.HealthCheck, 0, len(report.Checks))
	for _, c := range report.Checks {
		out = append(out, mgmt.HealthCheck{Name: c.Name, Status: string(c.Status), Message: c.Message})
	}
	return out
}

// MgmtParams are what the management server is built from.
type MgmtParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Config
	Transport raftcore.Transport
	Replica   *Replica
	Observer  *observe.Observer `optional:"true"`
	Logger    *slog.Logger
	// BackupEvents, there when backups are scheduled, records them in the
	// server's event history.
	BackupEvents *BackupEvents `optional:"true"`
}

// mgmtOption mounts the management server once the node has started, and
// closes it before the node stops.
func mgmtOption() fx.Option {
	return fx.Invoke(func(p MgmtParams) {
		var srv *mgmt.Server
		p.Lifecycle.Append(fx.Hook{
			OnStart: func(context.Context) error {
				var health mgmt.HealthChecker
				if p.Observer != nil {
					health = ObserverHealth{Observer: p.Observer}
				}
				var err error
				srv, err = MountMgmt(p.Transport, p.Replica.Node(), p.Config, health, p.Logger, StateMachineName)
				if err == nil {
					p.BackupEvents.mounted(srv)
				}
				return err
			},
			OnStop: func(context.Context) error {
				if srv == nil {
					return nil
				}
				return srv.Close()
			},
		})
	})
}
