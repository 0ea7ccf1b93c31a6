package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// KVNode is the raft node type of the key-value store.
type KVNode = raftcore.Node[kvstore.Command, kvstore.Result]

// Replica is the raft node as the graph sees it: built when the graph is,
// started by the lifecycle's OnStart (bootstrapping or restoring its
// stores) and closed gracefully by OnStop, which hands leadership away
// first. Until it starts, its calls fail with raftcore.ErrStopped.
//
// It implements kvstore.Node, and observe.NodeSource for metrics and health.
type Replica struct {
	cfg     raftcore.Config
	machine *kvstore.Machine
	node    atomic.Pointer[KVNode]
	closing atomic.Bool
}

var _ kvstore.Node = (*Replica)(nil)

// ReplicaParams are what NewReplica is built from.
type ReplicaParams struct {
	fx.In

	Lifecycle     fx.Lifecycle
	Shutdowner    fx.Shutdowner
	Config        Config
	Transport     raftcore.Transport
	LogStore      raftcore.LogStore
	SnapshotStore raftcore.SnapshotStore
	Machine       *kvstore.Machine
	Logger        *slog.Logger
	// Observer, when the graph has one, sees proposals, reads and saves.
	Observer raftcore.Observer `optional:"true"`
	// KeyBindings, with the QUIC transport, records learned member keys.
	KeyBindings *KeyBindings `optional:"true"`
	// Discovery, with the QUIC transport, joins or forms the cluster of a
	// node with an empty store before it starts.
	Discovery *Discovery `optional:"true"`
}

// NewReplica returns the node, not yet started, and registers its start and
// stop with the lifecycle. If the node stops by itself (a fatal storage
// error), the whole application shuts down with exit code 1.
func NewReplica(p ReplicaParams) (*Replica, error) {
	preset := p.Config.Preset
	r := &Replica{
		machine: p.Machine,
		cfg: raftcore.Config{
			NodeID:        p.Config.NodeID,
			Peers:         p.Config.Peers,
			Join:          p.Config.Join,
			Preset:        preset,
			Transport:     p.Transport,
			LogStore:      p.LogStore,
			SnapshotStore: p.SnapshotStore,
			Logger:        p.Logger,
			Observer:      p.Observer,
		},
	}
	if err := r.cfg.Validate(); err != nil {
		return nil, err
	}
	log := p.Logger
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if p.Discovery != nil {
				if err := p.Discovery.BeforeStart(ctx, &r.cfg); err != nil {
					return errors.Join(err, r.closeUnstarted())
				}
			}
			node, err := raftcore.Start(ctx, r.cfg, p.Machine, kvstore.CommandCodec{})
			if err != nil {
				return errors.Join(fmt.Errorf("start raft node: %w", err), r.closeUnstarted())
			}
			r.node.Store(node)
			if p.KeyBindings != nil {
				p.KeyBindings.attach(node)
			}
			if p.Discovery != nil {
				p.Discovery.AfterStart(node)
			}
			go func() {
				<-node.Done()
				if !r.closing.Load() {
					log.Error("raft node stopped by itself", "err", node.Err())
					_ = p.Shutdowner.Shutdown(fx.ExitCode(1))
				}
			}()
			log.Info("raft node started", "id", node.ID(), "applied_index", node.AppliedIndex())
			return nil
		},
		OnStop: func(ctx context.Context) error {
			node := r.node.Load()
			if node == nil {
				return nil
			}
			r.closing.Store(true)
			if p.Discovery != nil {
				p.Discovery.Stop()
			}
			wasLeader := node.IsLeader()
			err := node.Close(ctx)
			log.Info("raft node stopped", "was_leader", wasLeader, "err", err)
			return err
		},
	})
	return r, nil
}

// closeUnstarted releases the transport and stores of a node that failed to
// start; a started node closes them itself.
func (r *Replica) closeUnstarted() error {
	errs := []error{r.cfg.Transport.Close(), r.cfg.LogStore.Close()}
	if c, ok := r.cfg.SnapshotStore.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Node returns the running raft node, or nil before start.
func (r *Replica) Node() *KVNode { return r.node.Load() }

// Machine returns the replicated state machine.
func (r *Replica) Machine() *kvstore.Machine { return r.machine }

func (r *Replica) running() (*KVNode, error) {
	if n := r.node.Load(); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: not started", raftcore.ErrStopped)
}

// Propose implements kvstore.Node.
func (r *Replica) Propose(ctx context.Context, cmd kvstore.Command) (kvstore.Result, error) {
	n, err := r.running()
	if err != nil {
		return kvstore.Result{}, err
	}
	return n.Propose(ctx, cmd)
}

// Read implements kvstore.Node.
func (r *Replica) Read(ctx context.Context, fn func() error) error {
	n, err := r.running()
	if err != nil {
		return err
	}
	return n.Read(ctx, fn)
}

// ReadStale implements kvstore.Node.
func (r *Replica) ReadStale(fn func() error) error {
	n, err := r.running()
	if err != nil {
		return err
	}
	return n.ReadStale(fn)
}

// Leader implements kvstore.Node.
func (r *Replica) Leader() uint64 {
	if n := r.node.Load(); n != nil {
		return n.Leader()
	}
	return 0
}

// Status implements kvstore.Node.
func (r *Replica) Status() raftcore.Status {
	if n := r.node.Load(); n != nil {
		return n.Status()
	}
	return raftcore.Status{ID: r.cfg.NodeID, Role: raftcore.RoleNone}
}

// Subscribe returns the node's events (see raftcore.Node.Subscribe); before
// start, a channel closed at once.
func (r *Replica) Subscribe(ctx context.Context) <-chan raftcore.Event {
	if n := r.node.Load(); n != nil {
		return n.Subscribe(ctx)
	}
	ch := make(chan raftcore.Event)
	close(ch)
	return ch
}
