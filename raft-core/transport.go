package raftcore

import (
	"context"
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// Transport carries raft messages between nodes. Implementations live in their
// own modules (transport-mem, transport-quic) and pass the conformance suite in
// raftcore/transporttest.
//
// The engine calls Send from its raft goroutine, so Send must never block on
// the network: it queues per peer (bounded) and drops on overflow, reporting the
// peer through Handler.ReportUnreachable. Raft retransmits what was dropped.
type Transport interface {
	// Start begins delivering inbound messages to h. It is called once, before
	// any other method except AddPeer.
	Start(h Handler) error
	// Send queues msgs for delivery to their To peers. It does not block and
	// does not retain msgs after the messages are encoded (the engine may reuse
	// nothing in them, but implementations must not mutate them). Messages of
	// type MsgSnap are never passed to Send; they go through SendSnapshot.
	Send(msgs []*raftpb.Message)
	// SendSnapshot streams a snapshot to msg.To: msg is the MsgSnap raft
	// produced (its Snapshot carries metadata only) and body is the snapshot
	// data, whose size need not be known in advance. It blocks until the
	// receiver's Handler.HandleSnapshot returned, or ctx is done, and returns
	// nil only if the receiver accepted the snapshot.
	SendSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) error
	// AddPeer adds p or updates its address and key. Adding a known peer with
	// the same address and key is a no-op.
	AddPeer(p Peer) error
	// RemovePeer forgets a peer; queued messages to it are dropped.
	RemovePeer(id uint64)
	// Close stops the transport and releases its resources. Calls after Close
	// return ErrClosed or do nothing.
	Close() error
}

// Handler receives what a Transport delivers. The engine implements it.
type Handler interface {
	// HandleMessages delivers messages received from peers. It does not block
	// for long: the engine queues them and drops (raft retransmits) when full,
	// or, when its raft goroutine is idle, steps them on the caller's
	// goroutine (which may call the Transport's Send; a Send must therefore
	// never wait for the goroutine that called HandleMessages). The transport
	// must not touch msgs after the call.
	HandleMessages(msgs []*raftpb.Message)
	// HandleSnapshot receives a snapshot stream. msg is the MsgSnap; body yields
	// the snapshot data and must be read to io.EOF for the snapshot to count.
	// A non-nil error means the snapshot was rejected; the sender reports
	// failure to raft and retries later.
	HandleSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) error
	// ReportUnreachable tells raft that messages to id were dropped, so it stops
	// optimistic replication to that peer until it answers again.
	ReportUnreachable(id uint64)
}

// Stream is a reliable, ordered, bidirectional byte stream between two nodes,
// used by management and discovery protocols that share a Transport's endpoint.
type Stream interface {
	io.ReadWriteCloser
	// CloseWrite signals the end of what this side sends; reads continue.
	CloseWrite() error
	// Remote describes the authenticated peer on the other end. Its ID is 0
	// when the remote's identity is not (yet) a member.
	Remote() Peer
}

// SecretHolderStream is implemented by the streams of transports that can
// authenticate peers with a shared cluster secret (transport-quic):
// ClusterSecretHolder reports whether the remote proved that it holds the
// secret, whatever its id. Management servers use it to tell a holder of the
// secret (an operator's tool, a joining node) from a key that is only
// allowed to connect. Discover it with a type assertion on a Stream.
type SecretHolderStream interface {
	Stream
	ClusterSecretHolder() bool
}

// StreamHandler serves one inbound stream. It owns s and must close it.
type StreamHandler func(ctx context.Context, s Stream)

// StreamTransport is implemented by transports that can carry other protocols
// on the same endpoint (QUIC ALPN ids "jangada/mgmt/1", "jangada/discovery/1").
// Discover it with a type assertion on a Transport.
type StreamTransport interface {
	// HandleStream registers fn for inbound streams of protocol proto. A later
	// registration for the same proto replaces the earlier one.
	HandleStream(proto string, fn StreamHandler) error
	// OpenStream opens a stream to the node at addr speaking proto. key, when
	// not empty, is the identity the remote must prove.
	OpenStream(ctx context.Context, to Peer, proto string) (Stream, error)
}

// Well-known protocol ids for StreamTransport.
const (
	ProtocolRaft      = "jangada/raft/1"
	ProtocolMgmt      = "jangada/mgmt/1"
	ProtocolDiscovery = "jangada/discovery/1"
)
