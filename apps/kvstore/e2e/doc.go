// Package e2e holds the end-to-end tests of the kvstore command: real
// processes over QUIC with durable stores on free loopback ports, killed
// with SIGKILL and restarted, and a linearizability check of a concurrent
// client history (github.com/anishathalye/porcupine).
//
//	go test -race ./e2e
//
// TestMain builds the kvstore binary with kvtest (without the race detector
// unless JANGADA_RACE_BINARIES=1, so that a three-node cluster stays fast on
// small machines) into a temporary directory; the tests themselves run
// under whatever flags go test got.
package e2e
