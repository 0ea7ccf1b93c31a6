package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"

	"go.uber.org/fx"

	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// transportOption provides the raftcore.Transport cfg.Transport names,
// bound to the interface with fx.As. The Replica owns and closes it.
func transportOption(cfg Config) fx.Option {
	if cfg.Transport == TransportMem {
		return fx.Provide(fx.Annotate(NewMemTransport, fx.As(new(raftcore.Transport))))
	}
	return fx.Options(
		fx.Provide(NewIdentity, NewKeyBindings),
		fx.Provide(fx.Annotate(NewQUICTransport, fx.As(new(raftcore.Transport)))),
	)
}

// IdentityParams are what NewIdentity is built from.
type IdentityParams struct {
	fx.In

	Config Config
	// DataDir is checked private before the key is read or made.
	DataDir DataDir
	Logger  *slog.Logger
}

// NewIdentity loads the node's ed25519 identity from DataDir/node.key,
// creating it on first start.
func NewIdentity(p IdentityParams) (ed25519.PrivateKey, error) {
	key, err := transportquic.LoadOrCreateIdentity(p.Config.IdentityPath())
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := checkSelfKey(p.Config, key); err != nil {
		return nil, err
	}
	p.Logger.Info("identity", "key", transportquic.FormatKey(transportquic.PublicKey(key)))
	return key, nil
}

// QUICParams are what NewQUICTransport is built from.
type QUICParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Config    Config
	Identity  ed25519.PrivateKey
	Logger    *slog.Logger
	// KeyBindings records the keys of keyless members (cluster secret).
	KeyBindings *KeyBindings
	// Opened, under New, closes the transport if the node is not built.
	Opened *openedParts `optional:"true"`
}

// NewQUICTransport opens the QUIC endpoint on ListenAddr.
func NewQUICTransport(p QUICParams) (*transportquic.Transport, error) {
	cfg := transportquic.Config{
		NodeID:     p.Config.NodeID,
		Identity:   p.Identity,
		ListenAddr: p.Config.ListenAddr,
		// Keep-alives go out at a third of it.
		IdleTimeout: p.Config.PeerIdleTimeout,
		Logger:      p.Logger.With("component", "transport"),
		// Admins' tools connect for jangada/mgmt/1 (see mgmt.go).
		TrustedKeys: p.Config.AdminKeys,
	}
	if p.Config.ClusterSecret != "" {
		cfg.ClusterSecret = []byte(p.Config.ClusterSecret)
		cfg.OnKeyLearned = p.KeyBindings.Learned
		for _, secret := range p.Config.AcceptedClusterSecrets {
			cfg.AcceptedClusterSecrets = append(cfg.AcceptedClusterSecrets, []byte(secret))
		}
	}
	if path := p.Config.FaultControlFile; path != "" {
		ctx, stop := context.WithCancel(context.Background())
		p.Lifecycle.Append(fx.StopHook(stop))
		p.Opened.add(closerFunc(stop))
		conn, err := faultConn(ctx, p.Config.ListenAddr, path, p.Logger)
		if err != nil {
			stop()
			return nil, fmt.Errorf("quic transport: %w", err)
		}
		cfg.PacketConn = conn
	}
	tr, err := transportquic.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("quic transport: %w", err)
	}
	p.Opened.add(tr)
	return tr, nil
}

// MemParams are what NewMemTransport is built from.
type MemParams struct {
	fx.In

	Config Config
	// Opened, under New, closes the transport if the node is not built.
	Opened *openedParts `optional:"true"`
}

// NewMemTransport returns the node's endpoint on a private in-process
// network: a single-node cluster without sockets.
func NewMemTransport(p MemParams) (*transportmem.Transport, error) {
	network, err := transportmem.NewNetwork(transportmem.NetworkConfig{})
	if err != nil {
		return nil, err
	}
	tr, err := network.Transport(raftcore.Peer{ID: p.Config.NodeID, Addr: p.Config.ListenAddr})
	if err != nil {
		return nil, err
	}
	p.Opened.add(tr)
	return tr, nil
}
