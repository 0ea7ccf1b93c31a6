// Package bank is a replicated bank on jangada: accounts with balances,
// atomic transfers that never overdraw, and every balance read at one log
// index. It runs on the key-value store's wiring (apps/kvstore/app's
// ServiceOptions: the same transports, stores, metrics, management and
// HTTP server), and its writes honour an Idempotency-Key header through
// raft-core's client sessions, so a client may retry a transfer whose
// outcome it did not learn without moving the money twice.
//
//	machine := bank.NewMachine()
//	sm, codec := bank.NewSessionMachine(machine)
//	// start a raftcore.Node with sm and codec (cmd/bank does it with fx)
//	h, err := bank.NewHandler(bank.HandlerConfig{Node: node, Machine: machine})
//
//	c, err := bank.NewClient(bank.ClientConfig{Endpoints: []string{"127.0.0.1:8001"}})
//	_, err = c.Transfer(ctx, "alice", "bob", 5, bank.NewIdempotencyKey())
//	if errors.Is(err, bank.ErrInsufficientFunds) { ... }
//	all, err := c.Accounts(ctx) // all.Total is conserved by transfers
package bank
