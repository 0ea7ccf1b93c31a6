// Command quickstart is the README's quick start: one jangada node on
// transport-mem with in-memory stores, a state machine and codec of its own,
// a write and a linearizable read.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"

	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// Set is the command: set Key to Value.
type Set struct{ Key, Value string }

// Store is the state machine: a map, changed only by Apply.
type Store struct{ data map[string]string }

// Apply applies one committed command and returns its result (the old value).
func (s *Store) Apply(_ uint64, c Set) string {
	old := s.data[c.Key]
	s.data[c.Key] = c.Value
	return old
}

// Snapshot writes the whole state; Restore replaces it.
func (s *Store) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(s.data) }
func (s *Store) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(&s.data) }

// Codec turns commands into log entries and back.
type Codec struct{}

func (Codec) Encode(c Set) ([]byte, error) { return json.Marshal(c) }
func (Codec) Decode(b []byte) (c Set, err error) {
	err = json.Unmarshal(b, &c)
	return c, err
}

func main() {
	ctx := context.Background()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{})
	me := raftcore.Peer{ID: 1, Addr: "node-1"}
	transport, _ := network.Transport(me)
	store := &Store{data: map[string]string{}}
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID: 1, Peers: []raftcore.Peer{me}, Preset: raftcore.Testing,
		Transport: transport, LogStore: raftcore.NewMemoryLogStore(), SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, store, Codec{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close(ctx)
	if _, err := node.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}
	old, err := node.Propose(ctx, Set{Key: "hello", Value: "world"}) // Apply's result, once committed and applied
	fmt.Printf("set hello (it was %q): %v\n", old, err)
	_ = node.Read(ctx, func() error { fmt.Println("hello =", store.data["hello"]); return nil })
}
