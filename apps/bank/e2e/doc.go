// Package e2e holds the bank's end-to-end tests: real bank processes over
// QUIC on loopback, with pebble, badger or store-wal, under kill -9, SIGSTOP, leader
// transfers and membership changes, checked Jepsen's bank way.
package e2e
