// Package discovery lets jangada clusters form and grow by themselves: it
// finds nodes through a Source (a static list, DNS SRV records as a
// Kubernetes headless Service publishes them), lets a node join with a
// one-time Ticket, forms a new cluster from N fresh nodes exactly once
// (bootstrap-expect, Form) and promotes caught-up learners on the leader
// (Autopilot). It speaks jangada/discovery/1 on the node's own
// raftcore.StreamTransport (QUIC in production, transport-mem in tests).
//
// On every node, before its raft node starts:
//
//	srv, err := discovery.Mount(tr, discovery.ServerConfig{
//		Self:           raftcore.Peer{ID: id, Addr: addr, Key: key},
//		ClusterSecrets: [][]byte{secret}, // checks tickets
//	})
//	defer srv.Close()
//	// a fresh node: form, or join with a ticket
//	f, err := discovery.Form(ctx, discovery.FormConfig{Transport: tr, Server: srv, Source: src, Expect: 3})
//	members, err := discovery.Join(ctx, discovery.JoinConfig{Transport: tr, Self: self, Ticket: ticket})
//	// once the raft node runs
//	srv.SetNode(node)
//	err = discovery.Promote(ctx, discovery.PromoteConfig{Transport: tr, Node: node, Ticket: ticket})
//
// # Tickets
//
// A ticket (NewTicket, printed by `jangadactl ticket create`) names the
// cluster (ClusterID, derived from the cluster secret), the node id it
// grants, the role (learner or voter), when it expires and members'
// addresses, and is signed with an HMAC key derived from the cluster
// secret: every member checks it without asking anyone. The member that
// leads adds the node as a learner; raft decides the ticket's single use,
// since an id that is or was a member is never added again. A learner with
// a voter ticket asks the leader for promotion until the autopilot finds it
// caught up. Refusals name their reason: ErrTicketForged, ErrTicketExpired,
// ErrTicketUsed, ErrTicketForeign.
//
// A member that restarts on another address asks the leader to record it
// (AnnounceAddress): it is recognised by the key the transport proved, and
// the address changes on every node through the log.
//
// A joining node must reach the members' discovery protocol: in
// cluster-secret mode it holds the secret (as every member does); a cluster
// of pinned keys admits only keys it knows, so tickets are for
// cluster-secret clusters.
package discovery
