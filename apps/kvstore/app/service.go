package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/mgmt"
	"github.com/jangada-io/jangada/observe"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Service is a replicated state machine served with a kvstore node's
// wiring in place of the key-value store: the same configuration,
// identity, transports, stores, metrics and health, live status page,
// management server and HTTP server (with its TLS, authentication and Host
// checks). apps/bank is one.
type Service[C, R any] struct {
	// Name names the application: it labels its backups (a backup of
	// another application is refused at restore) and titles its status
	// page. Required.
	Name string
	// Machine is the state machine every node applies the log to.
	Machine raftcore.StateMachine[C, R]
	// Codec encodes its commands for the log.
	Codec raftcore.Codec[C]
	// Routes returns the service's HTTP API, mounted on the node's HTTP
	// server. Routes that are not Public need the API's credentials. An
	// error fails the application's construction.
	Routes func(node *ServiceNode[C, R]) ([]Route, error)
}

// ServiceOptions returns the graph of a node of svc: what Options builds,
// with svc's machine, codec and routes instead of the key-value store's.
// It does not validate cfg; NewService does.
func ServiceOptions[C, R any](cfg Config, svc Service[C, R]) fx.Option {
	cfg = cfg.withDefaults()
	return fx.Options(
		fx.Supply(fx.Annotate(svc.Name, fx.ResultTags(`name:"app_name"`))),
		fx.Supply(cfg, &openedParts{}),
		fx.Provide(func() *slog.Logger { return loggerOf(cfg) }),
		fx.Provide(NewDataDir),
		transportOption(cfg),
		storeOption(cfg),
		fx.Provide(
			func(p ServiceNodeParams) (*ServiceNode[C, R], error) { return newServiceNode(p, svc) },
			NewAuth,
			fx.Annotate(func(n *ServiceNode[C, R]) ([]Route, error) { return svc.Routes(n) }, fx.ResultTags(`group:"routes,flatten"`)),
			NewHTTPServer,
		),
		fx.Provide(
			NewObserver,
			func(o *observe.Observer) raftcore.Observer { return o },
			fx.Annotate(observerRoutes, fx.ResultTags(`group:"routes,flatten"`)),
		),
		fx.Decorate(func(o *observe.Observer, t raftcore.Transport) raftcore.Transport {
			return o.InstrumentTransport(t)
		}),
		fx.Invoke(func(lc fx.Lifecycle, o *observe.Observer, n *ServiceNode[C, R]) {
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { return o.Attach(n) },
				OnStop:  func(context.Context) error { return o.Close() },
			})
		}),
		fx.Provide(
			NewStatusPage,
			fx.Annotate(statusPageRoutes, fx.ResultTags(`group:"routes,flatten"`)),
		),
		fx.Invoke(func(lc fx.Lifecycle, page *observe.StatusPage, n *ServiceNode[C, R], s *HTTPServer) {
			attachPageTo(lc, page, n, s)
		}),
		fx.Invoke(func(p serviceMgmtParams, n *ServiceNode[C, R]) {
			mountServiceMgmt(p, func() mgmt.Node { return n.Node() }, svc.Name)
		}),
		fx.Provide(func(n *ServiceNode[C, R]) BackupSource {
			return BackupSource{Node: func() BackupNode { return n.Node() }, StateMachine: svc.Name}
		}),
		backupOption(cfg),
		discoveryOption(cfg),
		fx.Invoke(func(*HTTPServer) {}),
	)
}

// NewService returns the application of one node of svc, ready for Start,
// as New does for the key-value store. It returns an error wrapping
// ErrInvalidConfig for a bad cfg.
func NewService[C, R any](cfg Config, svc Service[C, R], extra ...fx.Option) (*fx.App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if svc.Name == "" || svc.Machine == nil || svc.Codec == nil || svc.Routes == nil {
		return nil, fmt.Errorf("%w: a service needs a name, a machine, a codec and routes", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	return newApp(cfg, ServiceOptions(cfg, svc), extra)
}

// ServiceNode is a service's raft node as the graph sees it, as Replica is
// the key-value store's: built with the graph, started by OnStart, closed
// gracefully (leadership handed away first) by OnStop. Until it starts, its
// calls fail with raftcore.ErrStopped.
type ServiceNode[C, R any] struct {
	cfg     raftcore.Config
	node    atomic.Pointer[raftcore.Node[C, R]]
	closing atomic.Bool
}

// ServiceNodeParams are what a ServiceNode is built from.
type ServiceNodeParams struct {
	fx.In

	Lifecycle     fx.Lifecycle
	Shutdowner    fx.Shutdowner
	Config        Config
	Transport     raftcore.Transport
	LogStore      raftcore.LogStore
	SnapshotStore raftcore.SnapshotStore
	Logger        *slog.Logger
	Observer      raftcore.Observer `optional:"true"`
	KeyBindings   *KeyBindings      `optional:"true"`
	// Discovery joins or forms the cluster (join ticket, bootstrap-expect).
	Discovery *Discovery `optional:"true"`
}

func newServiceNode[C, R any](p ServiceNodeParams, svc Service[C, R]) (*ServiceNode[C, R], error) {
	n := &ServiceNode[C, R]{cfg: raftcore.Config{
		NodeID:        p.Config.NodeID,
		Peers:         p.Config.Peers,
		Join:          p.Config.Join,
		Preset:        p.Config.Preset,
		Transport:     p.Transport,
		LogStore:      p.LogStore,
		SnapshotStore: p.SnapshotStore,
		Logger:        p.Logger,
		Observer:      p.Observer,
	}}
	if err := n.cfg.Validate(); err != nil {
		return nil, err
	}
	log := p.Logger
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			closeUnstarted := func(err error) error {
				errs := []error{err, n.cfg.Transport.Close(), n.cfg.LogStore.Close()}
				if c, ok := n.cfg.SnapshotStore.(io.Closer); ok {
					errs = append(errs, c.Close())
				}
				return errors.Join(errs...)
			}
			if p.Discovery != nil {
				if err := p.Discovery.BeforeStart(ctx, &n.cfg); err != nil {
					return closeUnstarted(err)
				}
			}
			node, err := raftcore.Start(ctx, n.cfg, svc.Machine, svc.Codec)
			if err != nil {
				return closeUnstarted(fmt.Errorf("start raft node: %w", err))
			}
			n.node.Store(node)
			if p.KeyBindings != nil {
				p.KeyBindings.attach(node)
			}
			if p.Discovery != nil {
				p.Discovery.AfterStart(node)
			}
			go func() {
				<-node.Done()
				if !n.closing.Load() {
					log.Error("raft node stopped by itself", "err", node.Err())
					_ = p.Shutdowner.Shutdown(fx.ExitCode(1))
				}
			}()
			log.Info("raft node started", "id", node.ID(), "applied_index", node.AppliedIndex())
			return nil
		},
		OnStop: func(ctx context.Context) error {
			node := n.node.Load()
			if node == nil {
				return nil
			}
			n.closing.Store(true)
			if p.Discovery != nil {
				p.Discovery.Stop()
			}
			wasLeader := node.IsLeader()
			err := node.Close(ctx)
			log.Info("raft node stopped", "was_leader", wasLeader, "err", err)
			return err
		},
	})
	return n, nil
}

// Node returns the running raft node, or nil before start.
func (n *ServiceNode[C, R]) Node() *raftcore.Node[C, R] { return n.node.Load() }

func (n *ServiceNode[C, R]) running() (*raftcore.Node[C, R], error) {
	if node := n.node.Load(); node != nil {
		return node, nil
	}
	return nil, fmt.Errorf("%w: not started", raftcore.ErrStopped)
}

// Propose proposes cmd (see raftcore.Node.Propose).
func (n *ServiceNode[C, R]) Propose(ctx context.Context, cmd C) (R, error) {
	node, err := n.running()
	if err != nil {
		var zero R
		return zero, err
	}
	return node.Propose(ctx, cmd)
}

// Read runs fn linearizably (see raftcore.Node.Read).
func (n *ServiceNode[C, R]) Read(ctx context.Context, fn func() error) error {
	node, err := n.running()
	if err != nil {
		return err
	}
	return node.Read(ctx, fn)
}

// ReadStale runs fn on the node's local state (see raftcore.Node.ReadStale).
func (n *ServiceNode[C, R]) ReadStale(fn func() error) error {
	node, err := n.running()
	if err != nil {
		return err
	}
	return node.ReadStale(fn)
}

// Leader returns the leader the node knows of, or 0 (also before start).
func (n *ServiceNode[C, R]) Leader() uint64 {
	if node := n.node.Load(); node != nil {
		return node.Leader()
	}
	return 0
}

// Status returns the node's status; before start, its id and no role.
func (n *ServiceNode[C, R]) Status() raftcore.Status {
	if node := n.node.Load(); node != nil {
		return node.Status()
	}
	return raftcore.Status{ID: n.cfg.NodeID, Role: raftcore.RoleNone}
}

// Subscribe returns the node's events; before start, a closed channel.
func (n *ServiceNode[C, R]) Subscribe(ctx context.Context) <-chan raftcore.Event {
	if node := n.node.Load(); node != nil {
		return node.Subscribe(ctx)
	}
	ch := make(chan raftcore.Event)
	close(ch)
	return ch
}

type serviceMgmtParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Config
	Transport raftcore.Transport
	Observer  *observe.Observer `optional:"true"`
	Logger    *slog.Logger
	// BackupEvents: as MgmtParams.BackupEvents.
	BackupEvents *BackupEvents `optional:"true"`
}

// mountServiceMgmt mounts the management server for the started node, as
// mgmtOption does for the key-value store.
func mountServiceMgmt(p serviceMgmtParams, node func() mgmt.Node, name string) {
	var srv *mgmt.Server
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var health mgmt.HealthChecker
			if p.Observer != nil {
				health = ObserverHealth{Observer: p.Observer}
			}
			var err error
			srv, err = MountMgmt(p.Transport, node(), p.Config, health, p.Logger, name)
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
}
