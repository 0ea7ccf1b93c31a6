// Package mgmt is jangada's management protocol, jangada/mgmt/1: a server
// that any application mounts on its node's transport, and a Go client that
// reads the cluster's status, changes its membership, moves leadership,
// triggers snapshots, reports health, streams events and copies the state
// machine for backups (Client.State, or compressed by the node:
// Client.StateCompressed; admins only). It runs on any
// raftcore.StreamTransport: QUIC (transport-quic) in production,
// transport-mem in tests. The jangadactl command (mgmt/cmd/jangadactl) is
// built on the client.
//
// On a node:
//
//	srv, err := mgmt.Mount(transport, node, mgmt.ServerConfig{
//		AdminKeys: adminKeys, // who may change the cluster (ed25519 public keys)
//		Logger:    logger,    // every mutating call is logged with the caller's key
//	})
//	defer srv.Close()
//
// In a tool (its own transport carries the caller's identity or cluster secret):
//
//	c, err := mgmt.Dial(ctx, endpoints, mgmt.ClientConfig{Transport: tr})
//	st, err := c.Status(ctx)                             // leader, term, members, lag
//	err = c.MemberAdd(ctx, 4, "10.0.0.4:7001", key, true) // as a learner
//	err = c.MemberPromote(ctx, 4)
//	leader, err := c.LeaderTransfer(ctx, 0)               // to the most caught-up voter
//	err = c.Events(ctx, mgmt.EventsOptions{Follow: true}, func(ev mgmt.Event) error { … })
//
// Authorization: reads (Status, MemberList, Health, Events) are served to
// members and admins; mutating calls (MemberAdd, MemberPromote,
// MemberRemove, LeaderTransfer, Snapshot) to admins only: the holders of a
// key in ServerConfig.AdminKeys and, with SecretHoldersAreAdmins, the
// holders of the cluster secret. The caller's identity is what the transport
// proved (raftcore.Stream.Remote). Every mutating call is logged and
// recorded as an event of type "call".
//
// Errors from a server carry a Code and wrap the matching sentinel
// (ErrNotLeader, ErrUnauthorized, ErrNotFound, ErrConflict, ErrUnavailable,
// ErrInvalid); a not-leader answer is a *NotLeaderError naming the leader,
// which the client follows for mutating calls.
//
// # Events and their sequence numbers
//
// Raft numbers what every node agrees on: log entries. Membership changes
// are log entries, so each becomes a cluster event whose Seq is the entry's
// log index; every node applies the same entries in the same order and
// reports the same cluster events under the same Seq. A client that saw Seq
// N on one node resumes after N on any other (EventsOptions.Since) and gets
// every later cluster event once, in order: Client.Events does that by
// itself when its node stops, so a stream survives a leader change with no
// gap and no duplicate. What a node observes by itself (elections, its role,
// its snapshots, the calls it served) is not in the log: such node events
// have Seq 0 and come live from the node serving the stream.
//
// A node promises only what it saw: the cluster events applied after its
// server started and still in its bounded history (ServerConfig.EventHistory).
// A resume it cannot serve completely, or a stream that crosses a gap in
// what it saw (a snapshot installed from the leader, events dropped by a slow
// subscription), ends with ErrUnavailable, and the client moves to the next
// endpoint.
package mgmt
