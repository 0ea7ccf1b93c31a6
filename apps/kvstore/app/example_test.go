package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/app"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// A single-node store in one process: the mem transport and memory stores.
func Example() {
	ctx := context.Background()
	var server *app.HTTPServer
	a, err := app.New(app.Config{
		HTTPAddr:  "127.0.0.1:0",
		Transport: app.TransportMem,
		Store:     app.StoreMemory,
		Preset:    raftcore.Testing,
		Logger:    slog.New(slog.DiscardHandler),
	}, fx.NopLogger, fx.Populate(&server))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := a.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer a.Stop(ctx)

	httpClient := &http.Client{Transport: &http.Transport{}}
	defer httpClient.CloseIdleConnections()
	c, _ := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{server.Addr().String()}, HTTPClient: httpClient})
	for {
		// 503 until the node has elected itself.
		if _, err := c.Put(ctx, "greeting", []byte("hello"), kvstore.WriteOptions{}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	value, _, _ := c.Get(ctx, "greeting", false)
	fmt.Printf("%s\n", value)
	// Output: hello
}
