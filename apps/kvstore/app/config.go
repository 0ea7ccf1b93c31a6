package app

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jangada-io/jangada/discovery"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportquic "github.com/jangada-io/jangada/transport-quic"
)

// ErrInvalidConfig is wrapped by Config.Validate and ParsePeers errors.
var ErrInvalidConfig = errors.New("kvstore app: invalid config")

// Transports and stores a Config can name.
const (
	TransportQUIC = "quic"
	TransportMem  = "mem"

	StorePebble = "pebble"
	StoreBadger = "badger"
	StoreWAL    = "wal"
	StoreMemory = "memory"
)

// Defaults for Config's zero values.
const (
	DefaultNodeID      = 1
	DefaultDataDir     = "data"
	DefaultListenAddr  = "127.0.0.1:7001"
	DefaultHTTPAddr    = "127.0.0.1:8001"
	DefaultStopTimeout = 30 * time.Second
	DefaultPeerIdle    = 5 * time.Second
)

// Config is everything a kvstore node is built from. Zero values mean the
// documented defaults, so the zero Config is a single-node cluster in
// ./data on the default ports.
type Config struct {
	// NodeID is this node's raft id. Default: 1.
	NodeID uint64
	// DataDir holds the node's identity key and its stores. Default: "data".
	DataDir string
	// ListenAddr is the raft transport's UDP address. Default: 127.0.0.1:7001.
	ListenAddr string
	// HTTPAddr is the HTTP API's address. Default: 127.0.0.1:8001.
	HTTPAddr string
	// Peers lists the initial members, this node included, to bootstrap a
	// new cluster; once the node has stored state, the stored membership
	// wins. Default: this node alone at ListenAddr.
	Peers []raftcore.Peer
	// ClusterSecret lets members authenticate by a shared secret (at least
	// 32 bytes) instead of keys pinned in Peers.
	ClusterSecret string
	// Transport is "quic" (the default) or "mem" (a single-process demo:
	// one node, no network).
	Transport string
	// Store is "pebble" (the default), "badger", "wal" (store-wal's
	// segmented log; the fastest on large values) or "memory" (nothing
	// survives a restart).
	Store string
	// Preset chooses the raft timing defaults. Default: production.
	Preset raftcore.Preset
	// MaxValueSize bounds one value in bytes. Default: 1 MiB.
	MaxValueSize int
	// RequestTimeout bounds one HTTP request's proposal or read. Default: 5s.
	RequestTimeout time.Duration
	// PeerIdleTimeout is how long a QUIC connection to a peer that answers
	// nothing is kept before it is dialled again. A peer that restarted on
	// the same address is reached again only after this, since its old
	// connection is not reset. Default: 5s.
	PeerIdleTimeout time.Duration
	// FaultControlFile, when set, wraps the QUIC socket in a FaultConn
	// whose faults the file's lines set (partition ADDR…, loss RATE, delay
	// DURATION), re-read every 100ms: for Jepsen-style tests that partition
	// or degrade real nodes. Never set it in production.
	FaultControlFile string
	// StopTimeout bounds a graceful stop (leadership hand-off, HTTP drain,
	// store close). Default: 30s.
	StopTimeout time.Duration
	// Logger receives the node's logs. Default: text to stderr at Info.
	Logger *slog.Logger

	// HTTP API security. With none of these set the API is open to anyone
	// who reaches HTTPAddr: fine on loopback, warned about elsewhere.

	// HTTPTLSCert and HTTPTLSKey are PEM files of the HTTP server's
	// certificate (chain) and key; both or neither. The key file must not
	// be accessible to group or others. Default: plain HTTP.
	HTTPTLSCert, HTTPTLSKey string
	// HTTPTokensFile names the API's bearer tokens (see
	// kvstore.ParseTokens for the format); it must not be accessible to
	// group or others. Setting it makes the API require a credential.
	HTTPTokensFile string
	// HTTPClientCA is a PEM file of the CA certificates that sign client
	// certificates. A request over TLS whose certificate it verifies gets
	// the readwrite scope. Setting it makes the API require a credential;
	// it needs HTTPTLSCert.
	HTTPClientCA string
	// AcceptedClusterSecrets are further cluster secrets whose certificates
	// the QUIC transport accepts (it presents ClusterSecret's only): the
	// middle steps of rotating the secret (SECURITY.md).
	AcceptedClusterSecrets []string
	// Management (jangada/mgmt/1, served on the QUIC endpoint; see mgmt.go).

	// Join starts the node with an empty log that waits to be added to an
	// existing cluster (jangadactl member add). Peers then only say where
	// the current members are, and need not include this node.
	Join bool
	// AdminKeys are the ed25519 public keys allowed to change the cluster
	// through jangada/mgmt/1 (the QUIC transport also lets them connect).
	// In cluster-secret mode the secret's holders are admins as well.
	AdminKeys []ed25519.PublicKey
	// Scheduled backups (see backup.go): the leader backs the state up to
	// BackupTo, a directory or s3://BUCKET/PREFIX, on the cron schedule
	// BackupSchedule, and prunes as BackupRetain says (backup.ParseRetention:
	// "N" or "last=N,daily=D,weekly=W"; "" keeps all). Default: none.
	BackupSchedule, BackupTo, BackupRetain string

	// Discovery (jangada/discovery/1; see discovery.go). Each needs the
	// quic transport and a cluster secret.

	// Discover is a discovery source (discovery.ParseSource): static:… or
	// dns-srv:…. With BootstrapExpect, a node with an empty store forms a
	// new cluster with the nodes it finds, or joins the one it finds.
	Discover string
	// BootstrapExpect is how many voters a cluster formed by discovery
	// starts with.
	BootstrapExpect int
	// JoinTicket is a join ticket (jangadactl ticket create): a node with
	// an empty store joins the cluster it names as the node id it grants.
	JoinTicket string
	// Autopilot configures the promotion of caught-up learners and the
	// removal of dead voters (off by default), done by the leader.
	Autopilot discovery.AutopilotConfig
}

// httpAuthEnabled reports whether the API requires a credential.
func (c Config) httpAuthEnabled() bool { return c.HTTPTokensFile != "" || c.HTTPClientCA != "" }

func (c Config) withDefaults() Config {
	if c.NodeID == 0 {
		c.NodeID = DefaultNodeID
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if len(c.Peers) == 0 {
		c.Peers = []raftcore.Peer{{ID: c.NodeID, Addr: c.ListenAddr}}
	}
	if c.Transport == "" {
		c.Transport = TransportQUIC
	}
	if c.Store == "" {
		c.Store = StorePebble
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.PeerIdleTimeout == 0 {
		c.PeerIdleTimeout = DefaultPeerIdle
	}
	return c
}

// Validate reports the first problem with c, after defaults, as an error
// wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !slices.Contains([]string{TransportQUIC, TransportMem}, c.Transport) {
		return bad("transport %q: want quic or mem", c.Transport)
	}
	if !slices.Contains(Stores(), c.Store) {
		return bad("store %q: want one of %s", c.Store, strings.Join(Stores(), ", "))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("HTTP address %q: %v", c.HTTPAddr, err)
	}
	if (c.HTTPTLSCert == "") != (c.HTTPTLSKey == "") {
		return bad("HTTP TLS needs both a certificate and a key file")
	}
	if c.HTTPClientCA != "" && c.HTTPTLSCert == "" {
		return bad("client certificates (HTTP client CA %s) need HTTP TLS: set the certificate and key files", c.HTTPClientCA)
	}
	if c.MaxValueSize < 0 || c.RequestTimeout < 0 || c.StopTimeout < 0 || c.PeerIdleTimeout < 0 {
		return bad("sizes and durations must not be negative")
	}
	self := slices.IndexFunc(c.Peers, func(p raftcore.Peer) bool { return p.ID == c.NodeID })
	if self < 0 && !c.Join && c.JoinTicket == "" {
		return bad("peers do not include this node (id %d)", c.NodeID)
	}
	if c.Join && c.Transport == TransportMem {
		return bad("join needs the quic transport")
	}
	if c.Join && !slices.ContainsFunc(c.Peers, func(p raftcore.Peer) bool { return p.ID != c.NodeID }) {
		return bad("join needs peers naming the current members")
	}
	if c.Transport == TransportMem && len(c.Peers) > 1 {
		return bad("the mem transport runs one node in one process; use quic for a cluster of %d", len(c.Peers))
	}
	if err := c.validateDiscovery(); err != nil {
		return err
	}
	if c.Transport == TransportQUIC {
		if c.ClusterSecret != "" && len(c.ClusterSecret) < 32 {
			return bad("cluster secret has %d bytes, need at least 32", len(c.ClusterSecret))
		}
		for _, p := range c.Peers {
			if p.ID != c.NodeID && len(p.Key) == 0 && c.ClusterSecret == "" {
				return bad("peer %d has no key: pin keys in peers as ID=KEY@HOST:PORT or set a cluster secret", p.ID)
			}
		}
		if self >= 0 && c.Peers[self].Addr != c.ListenAddr {
			return bad("peer %d is at %s but this node listens on %s", c.NodeID, c.Peers[self].Addr, c.ListenAddr)
		}
	}
	return c.validateBackup()
}

// IdentityPath is where the node's identity key is kept in DataDir.
func (c Config) IdentityPath() string { return filepath.Join(c.withDefaults().DataDir, "node.key") }

// ParsePeers parses a comma-separated list of ID=HOST:PORT or
// ID=KEY@HOST:PORT, where KEY is a public key printed by `kvstore identity`.
func ParsePeers(s string) ([]raftcore.Peer, error) {
	var peers []raftcore.Peer
	seen := map[uint64]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		idText, rest, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%w: peer %q: want ID=HOST:PORT or ID=KEY@HOST:PORT", ErrInvalidConfig, item)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idText), 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%w: peer %q: id must be a positive integer", ErrInvalidConfig, item)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: peer %d listed twice", ErrInvalidConfig, id)
		}
		seen[id] = true
		p := raftcore.Peer{ID: id, Addr: rest}
		if keyText, addr, ok := strings.Cut(rest, "@"); ok {
			key, err := transportquic.ParseKey(keyText)
			if err != nil {
				return nil, fmt.Errorf("%w: peer %d: %w", ErrInvalidConfig, id, err)
			}
			p.Key, p.Addr = []byte(key), addr
		}
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			return nil, fmt.Errorf("%w: peer %d address %q: %v", ErrInvalidConfig, id, p.Addr, err)
		}
		peers = append(peers, p)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: no peers in %q", ErrInvalidConfig, s)
	}
	return peers, nil
}

// checkSelfKey reports an error when this node's own entry in peers pins a
// key other than its identity's.
func checkSelfKey(cfg Config, identity ed25519.PrivateKey) error {
	for _, p := range cfg.Peers {
		if p.ID == cfg.NodeID && len(p.Key) > 0 && !slices.Equal(p.Key, []byte(transportquic.PublicKey(identity))) {
			return fmt.Errorf("%w: peers pin key %s for node %d, but its identity in %s is %s", ErrInvalidConfig,
				transportquic.FormatKey(p.Key), cfg.NodeID, cfg.IdentityPath(), transportquic.FormatKey(transportquic.PublicKey(identity)))
		}
	}
	return nil
}
