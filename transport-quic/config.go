package transportquic

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults applied by Config for zero-valued fields.
const (
	DefaultListenAddr       = "127.0.0.1:0"
	DefaultSendQueueSize    = 4096
	DefaultMaxQueueBytes    = 64 << 20
	DefaultMaxBatchBytes    = 1 << 20
	DefaultMaxFrameSize     = 16 << 20
	DefaultSnapshotChunk    = 1 << 20
	DefaultIdleTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMinRedialDelay   = 50 * time.Millisecond
	DefaultMaxRedialDelay   = 5 * time.Second
)

// Config configures a Transport. Zero values mean the documented defaults.
type Config struct {
	// NodeID is this node's raft id. Required.
	NodeID uint64
	// Identity is this node's ed25519 private key; its public key is the
	// node's identity, the Key peers pin. Required. See LoadOrCreateIdentity.
	Identity ed25519.PrivateKey

	// ListenAddr is the UDP address the node listens and dials from. The
	// default is "127.0.0.1:0" (loopback, any port). Ignored when PacketConn
	// is set.
	ListenAddr string
	// PacketConn, when set, is used instead of a socket on ListenAddr; the
	// Transport owns it and closes it on Close. Tests pass a FaultConn here.
	PacketConn net.PacketConn

	// TrustedKeys are keys accepted in addition to the members' keys
	// (raftcore.Peer.Key given to AddPeer): operators' tools or nodes about
	// to join. A remote trusted only through this list has raft id 0: it may
	// open management and discovery streams, but its raft messages are
	// dropped until a member with its key is added.
	TrustedKeys []ed25519.PublicKey
	// ClusterSecret, when set, enables cluster-secret trust for small
	// clusters: a CA key is derived from the secret, this node's certificate
	// is signed by it and carries NodeID, and remotes whose certificate the
	// CA signed are accepted as the node id they carry (unless that id was
	// removed or is a member with a different key). At least 32 bytes.
	// Keys pinned through membership and TrustedKeys stay trusted.
	ClusterSecret []byte

	// SendQueueSize is the number of raft messages queued per peer and per
	// stream class (control: votes, heartbeats and other small messages;
	// bulk: appends and forwarded proposals) before Send drops and reports
	// the peer unreachable. The default is 4096.
	SendQueueSize int
	// MaxQueueBytes bounds the encoded size of the messages queued per peer
	// and per stream class; beyond it Send drops as for a full queue (one
	// message is always accepted into an empty queue). The default is 64 MiB.
	MaxQueueBytes int
	// MaxBatchBytes is the size at which a batch of messages to one peer is
	// cut into a frame. A single larger message forms a frame of its own.
	// The default is 1 MiB.
	MaxBatchBytes int
	// MaxFrameSize is the largest frame accepted from a peer and the largest
	// message sent; a larger one is dropped and counted. It bounds the memory
	// one stream can make this node allocate. The default is 16 MiB.
	MaxFrameSize int
	// SnapshotChunkSize is the size of the data frames a snapshot is streamed
	// in. The default is 1 MiB; it must not exceed MaxFrameSize.
	SnapshotChunkSize int

	// IdleTimeout closes a connection that received nothing for this long.
	// Keep-alives are sent at a third of it, so only dead peers time out.
	// The default is 30s.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a connection attempt. The default is 5s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds the write of one frame of raft messages; a peer
	// that does not take it in time loses its connection, which is dialled
	// again. The default is 10s.
	WriteTimeout time.Duration
	// MinRedialDelay and MaxRedialDelay bound the jittered exponential
	// backoff between failed connection attempts to one peer. The defaults
	// are 50ms and 5s. The backoff ends early when the peer connects to
	// this node, which every transport does to each of its peers as soon as
	// it starts: a restarted node is redialled at once, not after the
	// backoff that grew while it was down.
	MinRedialDelay time.Duration
	MaxRedialDelay time.Duration

	// Logger receives connection and protocol events. The default discards
	// them.
	Logger *slog.Logger
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == 0:
		return fmt.Errorf("%w: NodeID must not be 0", ErrInvalidConfig)
	case len(c.Identity) != ed25519.PrivateKeySize:
		return fmt.Errorf("%w: Identity must be an ed25519 private key (see LoadOrCreateIdentity)", ErrInvalidConfig)
	case c.ClusterSecret != nil && len(c.ClusterSecret) < minClusterSecretSize:
		return fmt.Errorf("%w: ClusterSecret has %d bytes, need at least %d", ErrInvalidConfig, len(c.ClusterSecret), minClusterSecretSize)
	case c.SendQueueSize < 0, c.MaxQueueBytes < 0, c.MaxBatchBytes < 0, c.MaxFrameSize < 0, c.SnapshotChunkSize < 0:
		return fmt.Errorf("%w: queue and frame sizes must not be negative", ErrInvalidConfig)
	case c.IdleTimeout < 0, c.HandshakeTimeout < 0, c.WriteTimeout < 0, c.MinRedialDelay < 0, c.MaxRedialDelay < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	}
	for i, k := range c.TrustedKeys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: TrustedKeys[%d] is not an ed25519 public key", ErrInvalidConfig, i)
		}
	}
	d := c.withDefaults()
	if d.SnapshotChunkSize > d.MaxFrameSize {
		return fmt.Errorf("%w: SnapshotChunkSize %d exceeds MaxFrameSize %d", ErrInvalidConfig, d.SnapshotChunkSize, d.MaxFrameSize)
	}
	if d.MinRedialDelay > d.MaxRedialDelay {
		return fmt.Errorf("%w: MinRedialDelay %v exceeds MaxRedialDelay %v", ErrInvalidConfig, d.MinRedialDelay, d.MaxRedialDelay)
	}
	return nil
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	setDefault(&c.SendQueueSize, DefaultSendQueueSize)
	setDefault(&c.MaxQueueBytes, DefaultMaxQueueBytes)
	setDefault(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&c.MaxFrameSize, DefaultMaxFrameSize)
	setDefault(&c.SnapshotChunkSize, DefaultSnapshotChunk)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.MinRedialDelay, DefaultMinRedialDelay)
	setDefault(&c.MaxRedialDelay, DefaultMaxRedialDelay)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
