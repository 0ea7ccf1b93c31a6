package transportquic

import "sync/atomic"

// Stats are counters since the Transport was created.
type Stats struct {
	// MessagesSent counts raft messages written to a stream.
	MessagesSent uint64
	// MessagesDirect counts the messages among MessagesSent that the
	// caller of Send wrote itself, the stream being idle, rather than the
	// sender goroutine.
	MessagesDirect uint64
	// MessagesReceived counts raft messages delivered to the Handler.
	MessagesReceived uint64
	// MessagesDropped counts outbound messages dropped: queue full, peer
	// unknown or unreachable, or larger than MaxFrameSize.
	MessagesDropped uint64
	// SpoofedDropped counts inbound messages dropped because their From was
	// not the authenticated sender's raft id (or the sender has none).
	SpoofedDropped uint64
	// MisaddressedDropped counts inbound messages whose To was not this node.
	MisaddressedDropped uint64
	// MalformedFrames counts inbound streams closed for a malformed,
	// oversized or truncated frame.
	MalformedFrames uint64
	// HandshakesRefused counts inbound connections refused because the
	// remote could not prove a trusted identity.
	HandshakesRefused uint64
	// LimitsHit counts connections and streams closed or refused because a
	// remote exceeded a limit: MaxConnectionsPerPeer,
	// MaxNonMemberConnections, MaxFrameBytesPerPeer, ReadTimeout or
	// MaxSnapshotSize.
	LimitsHit uint64
	// SnapshotsSent and SnapshotsReceived count snapshots the receiver
	// accepted; SnapshotsFailed counts outbound snapshots that did not.
	SnapshotsSent     uint64
	SnapshotsReceived uint64
	SnapshotsFailed   uint64
}

type counters struct {
	messagesSent, messagesReceived, messagesDropped   atomic.Uint64
	messagesDirect                                    atomic.Uint64
	spoofedDropped, misaddressedDropped               atomic.Uint64
	malformedFrames, handshakesRefused, limitsHit     atomic.Uint64
	snapshotsSent, snapshotsReceived, snapshotsFailed atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		MessagesSent:        c.messagesSent.Load(),
		MessagesDirect:      c.messagesDirect.Load(),
		MessagesReceived:    c.messagesReceived.Load(),
		MessagesDropped:     c.messagesDropped.Load(),
		SpoofedDropped:      c.spoofedDropped.Load(),
		MisaddressedDropped: c.misaddressedDropped.Load(),
		MalformedFrames:     c.malformedFrames.Load(),
		HandshakesRefused:   c.handshakesRefused.Load(),
		LimitsHit:           c.limitsHit.Load(),
		SnapshotsSent:       c.snapshotsSent.Load(),
		SnapshotsReceived:   c.snapshotsReceived.Load(),
		SnapshotsFailed:     c.snapshotsFailed.Load(),
	}
}
