package app

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// KVNode is the raft node type of the key-value store.
type KVNode = raftcore.Node[kvstore.Command, kvstore.Result]

// Replica is the key-value store's raft node as the graph sees it: a
// ServiceNode of the kvstore machine (built when the graph is, started by
// the lifecycle's OnStart, closed gracefully by OnStop, which hands
// leadership away first; until it starts, its calls fail with
// raftcore.ErrStopped), with the machine at hand for the HTTP API.
//
// It implements kvstore.Node, and observe.NodeSource for metrics and health.
type Replica struct {
	*ServiceNode[kvstore.Command, kvstore.Result]
	machine *kvstore.Machine
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
	n, err := newServiceNode(ServiceNodeParams{
		Lifecycle: p.Lifecycle, Shutdowner: p.Shutdowner, Config: p.Config,
		Transport: p.Transport, LogStore: p.LogStore, SnapshotStore: p.SnapshotStore,
		Logger: p.Logger, Observer: p.Observer, KeyBindings: p.KeyBindings, Discovery: p.Discovery,
	}, Service[kvstore.Command, kvstore.Result]{Machine: p.Machine, Codec: kvstore.CommandCodec{}})
	if err != nil {
		return nil, err
	}
	return &Replica{ServiceNode: n, machine: p.Machine}, nil
}

// Machine returns the replicated state machine.
func (r *Replica) Machine() *kvstore.Machine { return r.machine }
