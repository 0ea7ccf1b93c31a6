package observe_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jangada-io/jangada/observe"
)

func ExampleStatusPage() {
	obs, err := observe.New(observe.Config{})
	if err != nil {
		panic(err)
	}
	defer obs.Close()
	page, err := observe.NewStatusPage(observe.StatusPageConfig{
		Title:           "kvstore",
		Health:          obs.Health,
		MetricsURL:      "/metrics",
		ControlEndpoint: "10.0.0.2:7000",
	})
	if err != nil {
		panic(err)
	}
	defer page.Close()
	// With a real node: Attach the started *raftcore.Node to both.
	if err := obs.Attach(staticNode{}); err != nil {
		panic(err)
	}
	if err := page.Attach(staticNode{}); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/", http.StripPrefix("/ui", page.Handler())) // the page is /ui/
	obs.Register(mux)

	snap, err := page.Snapshot(context.Background())
	if err != nil {
		panic(err)
	}
	for _, m := range snap.Members {
		fmt.Printf("node %d %s leader=%v self=%v health=%s\n", m.ID, m.Address, m.Leader, m.Self, m.Health)
	}
	fmt.Println(snap.Commands.Status)
	// Output:
	// node 1 10.0.0.1:7000 leader=true self=false health=unknown
	// node 2 10.0.0.2:7000 leader=false self=true health=ok
	// jangadactl --endpoints 10.0.0.2:7000 status
}
