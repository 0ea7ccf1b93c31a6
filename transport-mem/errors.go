package transportmem

import "errors"

// Sentinel errors. Operations on a closed Transport return errors wrapping
// raftcore.ErrClosed instead.
var (
	// ErrInvalidConfig is wrapped by NetworkConfig.Validate and Faults.Validate.
	ErrInvalidConfig = errors.New("transportmem: invalid config")
	// ErrInvalidPeer is returned for a Peer with ID 0.
	ErrInvalidPeer = errors.New("transportmem: invalid peer")
	// ErrAddrInUse is returned by Network.Transport when an open transport
	// already listens on the address.
	ErrAddrInUse = errors.New("transportmem: address in use")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("transportmem: already started")
	// ErrUnknownPeer is returned when sending a snapshot to a peer that was
	// never added, or was removed.
	ErrUnknownPeer = errors.New("transportmem: unknown peer")
	// ErrUnreachable is returned when no started transport listens on the
	// peer's address, or another node than the expected one does.
	ErrUnreachable = errors.New("transportmem: peer unreachable")
	// ErrPartitioned is returned when a partition cuts the link, at the start
	// of a snapshot or stream or while it is open.
	ErrPartitioned = errors.New("transportmem: link partitioned")
	// ErrProtocolNotSupported is returned by OpenStream when the remote has no
	// handler for the protocol.
	ErrProtocolNotSupported = errors.New("transportmem: protocol not supported")
	// ErrSnapshotRejected wraps the error the receiver's HandleSnapshot
	// returned.
	ErrSnapshotRejected = errors.New("transportmem: snapshot rejected")
	// ErrSnapshotIncomplete is returned when the receiver accepted a snapshot
	// without reading its body to the end.
	ErrSnapshotIncomplete = errors.New("transportmem: snapshot body not read to the end")
	// ErrStreamClosed is returned by operations on a stream after Close, and
	// by Write after CloseWrite.
	ErrStreamClosed = errors.New("transportmem: stream closed")
)
