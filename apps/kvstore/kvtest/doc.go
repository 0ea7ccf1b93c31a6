// Package kvtest runs real kvstore-style processes for end-to-end tests:
// it builds the binaries (BuildKVStore, BuildJangadactl, Build), starts a
// Cluster of "serve" processes on free loopback ports with a cluster
// secret, kills, stops and restarts them, waits for an agreed leader,
// runs jangadactl against them (Ctl), dumps the tail of their logs when a
// test fails and reports a data race a node logged. Model is the porcupine
// model of a key-value register per key, for linearizability checks of a
// client history.
//
// It serves the tests of the kvstore and bank applications and of
// deploy/integration; any command whose "serve" takes kvstore's flags
// (--id, --data-dir, --listen, --http, --peers, --store, --preset,
// --cluster-secret-file) and answers GET /v1/status can run in a Cluster.
// A test that starts its processes otherwise (deploy/integration's, through
// a deployment driver) uses the pieces alone: FreeUDPPort and FreeTCPPort
// for its configuration, TailLines and DataRace on its processes' logs.
package kvtest
