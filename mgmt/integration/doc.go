// Package integration tests the mgmt server and client over real transports
// (transport-mem and transport-quic). It is a module of its own so that the
// mgmt module depends on raft-core and codec only.
package integration
