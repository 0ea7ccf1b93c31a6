// Package kvstore is jangada's reference key-value store: a replicated
// Machine of versioned keys, its binary command codec, an HTTP API and a
// client for it. The kvstore command (cmd/kvstore) wires it to a raft node,
// a transport and durable stores with go.uber.org/fx (see package app).
//
// Every write is a raft log entry; its log index is the key's version, which
// conditional writes compare (if_version). Reads are linearizable by default
// (raft ReadIndex) or local with consistency=stale. HandlerConfig.Auth
// makes the API require bearer tokens (ParseTokens) or verified TLS client
// certificates, with read and readwrite scopes.
//
//	m := kvstore.NewMachine()
//	node, err := raftcore.Start(ctx, cfg, m, kvstore.CommandCodec{})
//	// handle err
//	h, err := kvstore.NewHandler(kvstore.HandlerConfig{Node: node, Machine: m})
//	// handle err
//	http.ListenAndServe("127.0.0.1:8001", h)
//
//	c, _ := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{"127.0.0.1:8001"}})
//	index, err := c.Put(ctx, "greeting", []byte("hello"), kvstore.WriteOptions{})
//	value, version, err := c.Get(ctx, "greeting", false)
package kvstore
