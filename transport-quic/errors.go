package transportquic

import "errors"

// Sentinel errors. Functions wrap them with %w and add detail; match them with
// errors.Is.
var (
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("transportquic: invalid config")
	// ErrInvalidKey is returned for a key file or printable key that does not
	// hold an ed25519 key.
	ErrInvalidKey = errors.New("transportquic: invalid key")
	// ErrKeyPermissions is returned when a private key file can be read by
	// users other than its owner.
	ErrKeyPermissions = errors.New("transportquic: key file permissions too open")
	// ErrUntrustedPeer is returned (and sent as a TLS alert) when the remote's
	// certificate does not prove an identity this node trusts.
	ErrUntrustedPeer = errors.New("transportquic: untrusted peer")
	// ErrUnknownPeer is returned when sending to a raft id that was never added
	// with AddPeer, or was removed.
	ErrUnknownPeer = errors.New("transportquic: unknown peer")
	// ErrPeerUnreachable is returned when no connection to a peer could be
	// established; the transport retries later with backoff.
	ErrPeerUnreachable = errors.New("transportquic: peer unreachable")
	// ErrNotStarted is returned by calls that need Start to have been called.
	ErrNotStarted = errors.New("transportquic: not started")
	// ErrSnapshotRejected is returned by SendSnapshot when the receiver's
	// handler refused the snapshot or could not read it completely.
	ErrSnapshotRejected = errors.New("transportquic: snapshot rejected by receiver")
	// ErrSnapshotInProgress is returned by SendSnapshot while another
	// snapshot to the same peer is in flight, and sent back by a receiver
	// already receiving one from the same sender. The engine retries later.
	ErrSnapshotInProgress = errors.New("transportquic: snapshot already in progress")
	// ErrProtocol is returned when a peer violates the wire protocol: a
	// malformed, oversized or truncated frame, or an unknown stream kind.
	ErrProtocol = errors.New("transportquic: protocol violation")
	// ErrTooManyConnections is the reason an inbound connection is refused
	// when MaxNonMemberConnections are open (see Config).
	ErrTooManyConnections = errors.New("transportquic: too many connections")
	// ErrSnapshotTooLarge is returned by the body of an inbound snapshot
	// that grows beyond Config.MaxSnapshotSize; the sender's SendSnapshot
	// then returns ErrSnapshotRejected with this reason.
	ErrSnapshotTooLarge = errors.New("transportquic: snapshot too large")
	// ErrNoHandler is returned by OpenStream when the remote has no handler for
	// the requested protocol (its handshake refuses the ALPN id).
	ErrNoHandler = errors.New("transportquic: no handler for protocol")
)
