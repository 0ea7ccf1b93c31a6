// Package app wires a kvstore node with go.uber.org/fx: configuration →
// identity → transport (quic or mem) → LogStore and SnapshotStore (pebble, badger
// or memory) → state machine → raft node → HTTP server, with Prometheus
// metrics, health checks and the live status page at /ui/ (observe)
// mounted next to the API.
//
// Backends are chosen by Config.Transport and Config.Store; the rest of the
// graph does not change. Constructors take Params structs, interfaces are
// bound with fx.Annotate and fx.As, and lifecycle hooks start the node and
// stop it gracefully: the HTTP server drains first, then the node hands
// leadership away and closes its transport and stores.
//
// The data directory is created 0700 and refused if group or others may
// access it. The HTTP server has timeouts, checks the Host header on a
// loopback bind, and speaks TLS and requires tokens or client certificates
// when Config's HTTP fields say so (NewAuth); secret files are read with
// ReadPrivateFile, which refuses files open to group or others.
//
//	a, err := app.New(app.Config{
//		NodeID:        1,
//		DataDir:       "data/node1",
//		ListenAddr:    "127.0.0.1:7001",
//		HTTPAddr:      "127.0.0.1:8001",
//		Peers:         peers, // app.ParsePeers("1=127.0.0.1:7001,2=...")
//		ClusterSecret: secret,
//	})
//	// handle err
//	if err := a.Start(ctx); err != nil { ... }
//	<-a.Wait() // SIGINT or SIGTERM
//	err = a.Stop(ctx)
package app
