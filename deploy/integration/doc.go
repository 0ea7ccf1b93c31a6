// Package integration tests the deploy module's local driver with real
// kvstore processes over QUIC. It is a module of its own so that the deploy
// module depends on mgmt and raft-core only.
package integration
