package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/discovery"
	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// validateDiscovery checks the discovery settings (after defaults).
func (c Config) validateDiscovery() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Discover != "" {
		if _, err := discovery.ParseSource(c.Discover); err != nil {
			return bad("discover: %v", err)
		}
	}
	switch {
	case c.BootstrapExpect < 0:
		return bad("bootstrap-expect %d must not be negative", c.BootstrapExpect)
	case c.BootstrapExpect > 0 && c.Discover == "":
		return bad("bootstrap-expect needs a discovery source (--discover)")
	case c.Discover != "" && c.BootstrapExpect == 0:
		return bad("discover needs bootstrap-expect: how many voters a new cluster starts with")
	case c.JoinTicket != "" && (c.Discover != "" || c.Join):
		return bad("a join ticket is a way to join of its own: drop discover and join")
	case (c.JoinTicket != "" || c.Discover != "") && (c.Transport != TransportQUIC || c.ClusterSecret == ""):
		return bad("join tickets and discovery need the quic transport and a cluster secret")
	}
	if c.JoinTicket != "" {
		t, err := discovery.ParseTicket(c.JoinTicket)
		if err != nil {
			return bad("join ticket: %v", err)
		}
		if t.NodeID != c.NodeID {
			return bad("the join ticket grants node id %d, this node is %d", t.NodeID, c.NodeID)
		}
	}
	return c.Autopilot.Validate()
}

// Discovery is a node's part in jangada/discovery/1 (QUIC only): it serves
// probes, joins and promotions; before the raft node starts on an empty
// store it joins with the join ticket or forms the cluster with
// bootstrap-expect; once the node runs it asks for its own promotion when
// it joined to be a voter, and runs the autopilot.
type Discovery struct {
	cfg    Config
	tr     raftcore.StreamTransport
	srv    *discovery.Server
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	promote bool   // ask for promotion once running
	ticket  string // the voter ticket to ask with
}

// DiscoveryParams are what NewDiscovery is built from.
type DiscoveryParams struct {
	fx.In

	Config    Config
	Transport raftcore.Transport
	Identity  ed25519.PrivateKey
	Logger    *slog.Logger
	// DataDir keeps a forming node's promise (see promiseFile).
	DataDir DataDir
}

// NewDiscovery mounts the discovery server on the node's QUIC transport.
// The Replica drives it (BeforeStart, AfterStart, Stop).
func NewDiscovery(p DiscoveryParams) (*Discovery, error) {
	st, ok := p.Transport.(raftcore.StreamTransport)
	if !ok {
		return nil, fmt.Errorf("discovery: transport %T carries no streams", p.Transport)
	}
	var secrets [][]byte
	if p.Config.ClusterSecret != "" {
		secrets = append(secrets, []byte(p.Config.ClusterSecret))
		for _, s := range p.Config.AcceptedClusterSecrets {
			secrets = append(secrets, []byte(s))
		}
	}
	log := p.Logger.With("component", "discovery")
	srv, err := discovery.Mount(st, discovery.ServerConfig{
		Self:           raftcore.Peer{ID: p.Config.NodeID, Addr: p.Config.ListenAddr, Key: transportquic.PublicKey(p.Identity)},
		ClusterSecrets: secrets,
		Autopilot:      p.Config.Autopilot,
		Promises:       promiseFile{path: filepath.Join(string(p.DataDir), "discovery-promise")},
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Discovery{cfg: p.Config, tr: st, srv: srv, log: log, ctx: ctx, cancel: cancel}, nil
}

// BeforeStart decides, for a node whose store is empty, how it starts: it
// joins with the join ticket, or forms or joins a cluster with
// bootstrap-expect, and sets rc's Peers and Join accordingly. A node with
// state, or without either setting, starts as configured.
func (d *Discovery) BeforeStart(ctx context.Context, rc *raftcore.Config) error {
	if d.cfg.JoinTicket == "" && d.cfg.Discover == "" {
		return nil
	}
	last, err := rc.LogStore.LastIndex()
	if err != nil {
		return fmt.Errorf("discovery: read the log: %w", err)
	}
	if last > 0 {
		d.log.Info("the node has state: its stored membership wins over discovery", "last_index", last)
		return nil
	}
	self := raftcore.Peer{ID: d.cfg.NodeID, Addr: d.cfg.ListenAddr}
	if d.cfg.JoinTicket != "" {
		t, _ := discovery.ParseTicket(d.cfg.JoinTicket) // checked by Validate
		d.log.Info("joining with a ticket", "cluster", t.ClusterID, "role", t.Role, "members", t.Addrs)
		members, err := discovery.Join(ctx, discovery.JoinConfig{
			Transport: d.tr, Self: self, Ticket: d.cfg.JoinTicket, Logger: d.log,
			ClusterSecret:   []byte(d.cfg.ClusterSecret),
			IdentityRefused: func(err error) bool { return errors.Is(err, transportquic.ErrUntrustedPeer) },
		})
		if err != nil {
			return fmt.Errorf("join with ticket: %w", err)
		}
		rc.Peers, rc.Join = members, true
		d.promote, d.ticket = t.Role == discovery.RoleVoter, d.cfg.JoinTicket
		return nil
	}
	src, _ := discovery.ParseSource(d.cfg.Discover) // checked by Validate
	d.log.Info("bootstrap-expect: looking for nodes", "source", src.String(), "expect", d.cfg.BootstrapExpect)
	f, err := discovery.Form(ctx, discovery.FormConfig{Transport: d.tr, Server: d.srv, Source: src, Expect: d.cfg.BootstrapExpect, Logger: d.log})
	if err != nil {
		return err
	}
	rc.Peers, rc.Join = f.Peers, f.Join
	d.promote = f.Join
	return nil
}

// AfterStart hands the running node to the server and starts the
// promotion requests and the autopilot.
func (d *Discovery) AfterStart(node mgmt.Node) {
	d.srv.SetNode(node)
	// The raft node holds the membership now; the promise made while
	// forming is kept by the log.
	if err := (promiseFile{path: filepath.Join(d.cfg.DataDir, "discovery-promise")}).Save(0, nil); err != nil {
		d.log.Warn("could not remove the formation promise", "err", err)
	}
	d.wg.Go(func() { d.srv.Autopilot().Run(d.ctx) })
	d.wg.Go(func() {
		// A member restarted on another address is found again by its key.
		err := discovery.AnnounceAddress(d.ctx, d.tr, node, d.cfg.ListenAddr, 0)
		if err != nil && d.ctx.Err() == nil {
			d.log.Warn("could not record this node's new address", "address", d.cfg.ListenAddr, "err", err)
		}
	})
	if !d.promote {
		return
	}
	d.wg.Go(func() {
		err := discovery.Promote(d.ctx, discovery.PromoteConfig{Transport: d.tr, Node: node, Ticket: d.ticket, Logger: d.log})
		if err != nil && d.ctx.Err() == nil {
			d.log.Warn("this node stays a learner", "err", err)
		}
	})
}

// Stop ends the promotion requests and the autopilot and stops serving.
func (d *Discovery) Stop() {
	d.cancel()
	d.wg.Wait()
	_ = d.srv.Close()
}

// discoveryOption provides the Discovery on the QUIC transport.
func discoveryOption(cfg Config) fx.Option {
	if cfg.Transport != TransportQUIC {
		return fx.Options()
	}
	return fx.Provide(NewDiscovery)
}

// promiseFile keeps a forming node's promise to a decider
// (discovery.PromiseStore) in a file of the data directory, written
// atomically and synced, so that a node restarted in the middle of a
// formation does not promise a second decider.
type promiseFile struct{ path string }

type promiseRecord struct {
	Decider uint64          `json:"decider"`
	Set     []raftcore.Peer `json:"set"`
}

// Load implements discovery.PromiseStore.
func (f promiseFile) Load() (uint64, []raftcore.Peer, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	var r promiseRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", f.path, err)
	}
	return r.Decider, r.Set, nil
}

// Save implements discovery.PromiseStore.
func (f promiseFile) Save(decider uint64, set []raftcore.Peer) error {
	if decider == 0 {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(filepath.Dir(f.path))
	}
	data, err := json.Marshal(promiseRecord{Decider: decider, Set: set})
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	file, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := file.Write(data); err != nil {
		_ = file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		_ = file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(f.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
