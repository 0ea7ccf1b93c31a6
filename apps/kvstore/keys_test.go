package kvstore

import (
	"context"
	"testing"
	"time"
)

func TestKeysWithURLSyntaxRoundTrip(t *testing.T) {
	c := startMemCluster(t, 1, 1, HandlerConfig{})
	c.waitLeader()
	cl, err := NewClient(ClientConfig{Endpoints: []string{c.servers[0].URL}, HTTPClient: newHTTPClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := []string{"a/b", "a//b", "../x", "./y", "dir/", "/lead", " spaced ", "q?x=1", "h#frag", "100%", "a+b", "ключ/值", ".a", "..."}
	for _, key := range keys {
		t.Run(key, func(t *testing.T) {
			index, err := cl.Put(ctx, key, []byte("value of "+key), WriteOptions{})
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			got, version, err := cl.Get(ctx, key, false)
			if err != nil || string(got) != "value of "+key || version != index {
				t.Fatalf("get: %q at %d, %v", got, version, err)
			}
		})
	}
	list, err := cl.List(ctx, "", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != len(keys) {
		t.Fatalf("listed %d keys, want %d: %+v", len(list.Keys), len(keys), list.Keys)
	}
}
