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

	DefaultMaxConnectionsPerPeer   = 8
	DefaultMaxNonMemberConnections = 64
	DefaultMaxStreamsPerConnection = 32
	DefaultReadTimeout             = 30 * time.Second
	DefaultMaxSnapshotSize         = 8 << 30
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
	// open management and discovery streams, but its raft connections are
	// refused until a member with its key is added.
	TrustedKeys []ed25519.PublicKey
	// ClusterSecret, when set, enables cluster-secret trust for small
	// clusters: a CA key is derived from the secret, this node's certificate
	// is signed by it and carries NodeID, and remotes whose certificate the
	// CA signed are accepted under the rules below. At least 32 bytes. Keys
	// pinned through membership and TrustedKeys stay trusted.
	//
	// A CA certificate proves a raft id only for a current member (given to
	// AddPeer and not removed since): for a member with a Key it must carry
	// that key; a keyless member is bound to the first key that proves it
	// (see OnKeyLearned) and no other key is accepted for it afterwards. A
	// CA certificate for an id that is not a member is trusted like a key of
	// TrustedKeys (raft id 0: management and discovery streams, no raft
	// connection); one for this node's own id is refused. An id given to
	// RemovePeer is never accepted on a CA certificate again, even if it is
	// added back (only a pinned Key proves it then).
	//
	// Every holder of the secret can still join as a new member if the
	// cluster adds it, and claim a keyless member's id before that member
	// first connects: rotate the secret after removing a node (see
	// AcceptedClusterSecrets) and pin keys where that matters.
	ClusterSecret []byte
	// AcceptedClusterSecrets are further cluster secrets whose CA
	// certificates this node accepts, with the same rules as ClusterSecret;
	// this node presents a certificate signed under ClusterSecret only. They
	// let a cluster rotate its secret without downtime: first every node
	// accepts the new secret (AcceptedClusterSecrets: new), then every node
	// presents it (ClusterSecret: new, AcceptedClusterSecrets: old), then
	// every node forgets the old one (AcceptedClusterSecrets: nil), each
	// step a rolling restart. Empty by default; needs ClusterSecret; each at
	// least 32 bytes.
	AcceptedClusterSecrets [][]byte
	// OnKeyLearned, when set, is called when a keyless member (a peer given
	// to AddPeer without Key, in cluster-secret mode) proves its id with a
	// CA certificate for the first time: from then on this node accepts only
	// key for id, until the id is removed or given a Key by AddPeer. The
	// binding lives in memory only and each node learns it on its own; the
	// application is expected to replicate it through raft (a membership
	// update carrying the key) so that every node pins the same key and the
	// binding survives restarts. It is called from the transport's
	// goroutines, after the connection was admitted, at most once per
	// binding, and must not block. The default is nil: bindings are kept
	// but not reported.
	OnKeyLearned func(id uint64, key ed25519.PublicKey)

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
	// MaxSnapshotSize is the largest snapshot body accepted from a peer: the
	// stream is aborted, before the handler sees the excess bytes, once the
	// body grows beyond it. The default is 8 GiB.
	MaxSnapshotSize int64

	// MaxConnectionsPerPeer bounds the inbound connections open at once
	// from one remote identity (key), whatever their protocol. A further connection is admitted and
	// the oldest one of that identity closed, so a restarted peer is never
	// locked out by its own dead connections. The default is 8.
	MaxConnectionsPerPeer int
	// MaxNonMemberConnections bounds the inbound connections open at once
	// from remotes that are not members (raft id 0: TrustedKeys, or CA
	// certificates for ids that are no member's), together; beyond it new
	// ones are refused. The default is 64.
	MaxNonMemberConnections int
	// MaxStreamsPerConnection bounds the streams a remote may have open at
	// once on one connection; QUIC flow control makes it wait for more.
	// A raft connection uses three. The default is 32.
	MaxStreamsPerConnection int
	// MaxFrameBytesPerPeer bounds the memory the frames received from one
	// remote identity may hold at once, across all its raft connections and
	// streams: frames being read and buffers kept for the next frame. A
	// stream whose next frame does not fit waits for the others (QUIC flow
	// control holds the sender back) up to ReadTimeout, then is closed.
	// The default is twice MaxFrameSize; it must not be less than
	// MaxFrameSize.
	MaxFrameBytesPerPeer int
	// ReadTimeout bounds how long a stream may make no progress while this
	// node waits for it: the first byte of a new stream, the rest of a frame
	// whose header has arrived, every byte of a snapshot (the snapshot's
	// progress deadline), or memory under MaxFrameBytesPerPeer. A stream
	// that stalls that long is closed (after at least three quarters of it:
	// the deadline is moved in steps). Message streams may stay idle between
	// frames: keep-alives on their connection show the peer is alive. The
	// default is 30s.
	ReadTimeout time.Duration

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

	// testHookBeforeAdmit, when set, runs after an inbound handshake and
	// before the connection is admitted. Tests only.
	testHookBeforeAdmit func()
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
	case len(c.AcceptedClusterSecrets) > 0 && c.ClusterSecret == nil:
		return fmt.Errorf("%w: AcceptedClusterSecrets needs ClusterSecret", ErrInvalidConfig)
	case c.SendQueueSize < 0, c.MaxQueueBytes < 0, c.MaxBatchBytes < 0, c.MaxFrameSize < 0, c.SnapshotChunkSize < 0,
		c.MaxSnapshotSize < 0, c.MaxFrameBytesPerPeer < 0:
		return fmt.Errorf("%w: queue, frame and snapshot sizes must not be negative", ErrInvalidConfig)
	case c.MaxConnectionsPerPeer < 0, c.MaxNonMemberConnections < 0, c.MaxStreamsPerConnection < 0:
		return fmt.Errorf("%w: connection and stream limits must not be negative", ErrInvalidConfig)
	case c.IdleTimeout < 0, c.HandshakeTimeout < 0, c.WriteTimeout < 0, c.MinRedialDelay < 0, c.MaxRedialDelay < 0,
		c.ReadTimeout < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	}
	for i, s := range c.AcceptedClusterSecrets {
		if len(s) < minClusterSecretSize {
			return fmt.Errorf("%w: AcceptedClusterSecrets[%d] has %d bytes, need at least %d", ErrInvalidConfig, i, len(s), minClusterSecretSize)
		}
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
	if d.MaxFrameBytesPerPeer < d.MaxFrameSize {
		return fmt.Errorf("%w: MaxFrameBytesPerPeer %d is less than MaxFrameSize %d", ErrInvalidConfig, d.MaxFrameBytesPerPeer, d.MaxFrameSize)
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
	setDefault(&c.MaxSnapshotSize, DefaultMaxSnapshotSize)
	setDefault(&c.MaxConnectionsPerPeer, DefaultMaxConnectionsPerPeer)
	setDefault(&c.MaxNonMemberConnections, DefaultMaxNonMemberConnections)
	setDefault(&c.MaxStreamsPerConnection, DefaultMaxStreamsPerConnection)
	setDefault(&c.MaxFrameBytesPerPeer, 2*c.MaxFrameSize)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
