package kvstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/jangada-io/jangada/apps/kvstore"
	raftcore "github.com/jangada-io/jangada/raft-core"
	transportmem "github.com/jangada-io/jangada/transport-mem"
)

// A single-node store in memory, served over HTTP and used through Client.
func Example() {
	ctx := context.Background()
	network, _ := transportmem.NewNetwork(transportmem.NetworkConfig{Seed: 1})
	tr, _ := network.Transport(raftcore.Peer{ID: 1})
	m := kvstore.NewMachine()
	node, err := raftcore.Start(ctx, raftcore.Config{
		NodeID:        1,
		Peers:         []raftcore.Peer{tr.Peer()},
		Preset:        raftcore.Testing,
		Transport:     tr,
		LogStore:      raftcore.NewMemoryLogStore(),
		SnapshotStore: raftcore.NewMemorySnapshotStore(),
	}, m, kvstore.CommandCodec{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close(ctx)
	if _, err := node.WaitLeader(ctx); err != nil {
		fmt.Println(err)
		return
	}
	h, _ := kvstore.NewHandler(kvstore.HandlerConfig{Node: node, Machine: m})
	srv := httptest.NewServer(h)
	defer srv.Close()
	httpClient := &http.Client{Transport: &http.Transport{}}
	defer httpClient.CloseIdleConnections()

	c, _ := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{srv.URL}, HTTPClient: httpClient})
	version, _ := c.Put(ctx, "greeting", []byte("hello"), kvstore.WriteOptions{})
	value, got, _ := c.Get(ctx, "greeting", false)
	fmt.Printf("%s at version %v\n", value, got == version)

	_, err = c.Put(ctx, "greeting", []byte("bye"), kvstore.WriteOptions{Conditional: true, IfVersion: version + 1})
	fmt.Println("stale version refused:", errors.Is(err, kvstore.ErrVersionMismatch))

	_, _, _ = c.Delete(ctx, "greeting", kvstore.WriteOptions{})
	_, _, err = c.Get(ctx, "greeting", false)
	fmt.Println("deleted:", errors.Is(err, kvstore.ErrNotFound))
	// Output:
	// hello at version true
	// stale version refused: true
	// deleted: true
}

// Bearer tokens with read and readwrite scopes guard the API: a read token
// may read but not write.
func ExampleParseTokens() {
	tokens, err := kvstore.ParseTokens(strings.NewReader(`# SCOPE TOKEN
readwrite writer-token-0123456789abcdef
read      reader-token-0123456789abcdef
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	auth := &kvstore.Auth{Tokens: tokens}
	put := httptest.NewRequest(http.MethodPut, "/v1/kv/greeting", nil)
	put.Header.Set("Authorization", "Bearer reader-token-0123456789abcdef")
	fmt.Println(tokens.Len(), "tokens; the reader's scope:", auth.Scope(put))

	rec := httptest.NewRecorder()
	fmt.Println("reader may put:", auth.Allow(rec, put), rec.Code)
	// Output:
	// 2 tokens; the reader's scope: read
	// reader may put: false 403
}
