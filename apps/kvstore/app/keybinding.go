package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.uber.org/fx"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// KeyBindings carries the keys the QUIC transport learns in cluster-secret
// mode (a member added without a key proving its id for the first time) to
// the raft node, which records each through the log (raftcore's
// BindMemberKey): every node then pins the same key for that member, the
// binding survives restarts, and no other holder of the secret can claim
// the id. Only the leader can record one; a binding learned while this node
// follows is kept and recorded when it becomes the leader (the leader
// connects to every member, so it learns each key itself as well).
type KeyBindings struct {
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	node    keyBinder
	pending map[uint64]ed25519.PublicKey
}

// keyBinder is the raft node as KeyBindings uses it: a raftcore.Node of
// any state machine.
type keyBinder interface {
	ID() uint64
	IsLeader() bool
	Subscribe(ctx context.Context) <-chan raftcore.Event
	BindMemberKey(ctx context.Context, id uint64, key []byte) error
}

// NewKeyBindings returns the bindings of this node, starting with its own
// key (recorded when it leads: no node connects to itself); the lifecycle
// stops their work at shutdown.
func NewKeyBindings(lc fx.Lifecycle, cfg Config, identity ed25519.PrivateKey, log *slog.Logger) *KeyBindings {
	ctx, cancel := context.WithCancel(context.Background())
	k := &KeyBindings{log: log.With("component", "key-bindings"), ctx: ctx, cancel: cancel, pending: map[uint64]ed25519.PublicKey{}}
	if cfg.ClusterSecret != "" {
		k.pending[cfg.NodeID] = identity.Public().(ed25519.PublicKey)
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		k.cancel()
		k.wg.Wait()
		return nil
	}})
	return k
}

// Learned is the transport's OnKeyLearned: it must not block.
func (k *KeyBindings) Learned(id uint64, key ed25519.PublicKey) {
	k.mu.Lock()
	k.pending[id] = key
	k.mu.Unlock()
	k.flush()
}

// attach starts recording bindings through node, now and whenever it
// becomes the leader.
func (k *KeyBindings) attach(node keyBinder) {
	k.mu.Lock()
	k.node = node
	k.mu.Unlock()
	events := node.Subscribe(k.ctx)
	k.wg.Go(func() {
		for ev := range events {
			// The engine publishes EventLeaderElected before its role reads
			// as leader, so the role change is what flush can act on; after
			// lost events, look again.
			if ev.Type == raftcore.EventRoleChanged && ev.Role == raftcore.RoleLeader || ev.Type == raftcore.EventsLost {
				k.flush()
			}
		}
	})
	k.flush()
}

// flush records the pending bindings if this node leads.
func (k *KeyBindings) flush() {
	k.mu.Lock()
	node := k.node
	if node == nil || !node.IsLeader() || len(k.pending) == 0 || k.ctx.Err() != nil {
		k.mu.Unlock()
		return
	}
	todo := k.pending
	k.pending = map[uint64]ed25519.PublicKey{}
	k.mu.Unlock()
	k.wg.Go(func() {
		postponed := false
		for id, key := range todo {
			ctx, cancel := context.WithTimeout(k.ctx, 10*time.Second)
			err := node.BindMemberKey(ctx, id, key)
			cancel()
			switch {
			case err == nil:
				k.log.Info("member key bound", "member", id)
			case errors.Is(err, raftcore.ErrKeyConflict), errors.Is(err, raftcore.ErrUnknownMember):
				k.log.Warn("member key not bound", "member", id, "err", err)
			default:
				k.log.Debug("member key binding postponed", "member", id, "err", err)
				k.mu.Lock()
				if _, newer := k.pending[id]; !newer {
					k.pending[id] = key
				}
				k.mu.Unlock()
				postponed = true
			}
		}
		if !postponed {
			return
		}
		// Nothing else may come to retry it (no new key, no new leader):
		// try again shortly.
		select {
		case <-k.ctx.Done():
		case <-time.After(bindRetry):
			k.flush()
		}
	})
}

// bindRetry is how long a binding the leader could not record (a membership
// change in progress, a busy log) waits before it is tried again.
const bindRetry = 500 * time.Millisecond
