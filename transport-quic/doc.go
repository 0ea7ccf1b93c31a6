// Package transportquic is a raftcore.Transport over QUIC (quic-go):
// authenticated, multiplexed and fast. Nodes are addressed by key, not by IP.
//
// Every node has a persistent ed25519 identity (LoadOrCreateIdentity); its
// public key is what peers pin. Connections use mutual TLS 1.3 with
// self-signed certificates carrying the node key; the remote's key is checked
// in tls.Config.VerifyConnection against the membership (raftcore.Peer.Key of
// the peers given to AddPeer), Config.TrustedKeys, or, with
// Config.ClusterSecret, a cluster CA derived from the shared secret, which
// proves only the id of a current member, bound to the first key that proved
// it (Config.OnKeyLearned). Nothing that carries this node's own id or key is
// accepted, and only members may open raft connections. Session tickets are
// off, so no handshake skips the check; the check is repeated when a
// connection is admitted, atomically with membership changes. A raft message
// whose From is not the authenticated sender's id is dropped and counted.
//
// Every inbound connection, stream, frame and snapshot is bounded (see the
// limits in Config), so an authenticated remote cannot make a node hold
// unbounded memory. SECURITY.md at the repository root has the threat model.
//
// One UDP socket serves every protocol by ALPN: jangada/raft/1 (messages and
// snapshots) and whatever is registered with HandleStream
// (jangada/mgmt/1, jangada/discovery/1); other ALPN ids are refused in the
// handshake. Messages to a peer are coalesced into checksummed frames (codec
// framing) on two streams, control and bulk, so votes and heartbeats never
// wait behind appends; snapshots stream on a stream of their own. Send never
// blocks: per-peer queues are bounded and overflow is reported through
// Handler.ReportUnreachable.
//
// Usage:
//
//	key, err := transportquic.LoadOrCreateIdentity("data/node.key")
//	// handle err
//	tr, err := transportquic.New(transportquic.Config{
//		NodeID:     1,
//		Identity:   key,
//		ListenAddr: "0.0.0.0:7001",
//	})
//	// handle err
//	defer tr.Close()
//	_ = tr.AddPeer(raftcore.Peer{ID: 2, Addr: "10.0.0.2:7001", Key: peer2Key})
//	_ = tr.Start(engine) // engine implements raftcore.Handler
//
// FaultConn wraps the UDP socket (Config.PacketConn) to drop, delay and
// partition packets in tests over real QUIC.
package transportquic
