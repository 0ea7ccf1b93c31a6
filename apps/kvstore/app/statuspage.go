package app

import (
	"context"
	"net/http"

	"go.uber.org/fx"

	"github.com/jangada-io/jangada/observe"
)

// StatusPagePath is where the HTTP server serves the live status page; its
// JSON snapshot and event stream are StatusPagePath+"snapshot" and
// StatusPagePath+"stream".
const StatusPagePath = "/ui/"

// statusPageOption serves the node's live status page (observe.StatusPage)
// at StatusPagePath, behind the same credentials as the API when it
// requires them.
func statusPageOption() fx.Option {
	return fx.Options(
		fx.Provide(
			NewStatusPage,
			fx.Annotate(statusPageRoutes, fx.ResultTags(`group:"routes,flatten"`)),
		),
		fx.Invoke(attachStatusPage),
	)
}

// StatusPageParams are what NewStatusPage is built from.
type StatusPageParams struct {
	fx.In

	Config   Config
	Observer *observe.Observer
	// AppName titles the page; an application built on this graph names
	// itself with fx.Supply(fx.Annotate("name", fx.ResultTags(`name:"app_name"`))).
	// Default: "kvstore".
	AppName string `name:"app_name" optional:"true"`
}

// NewStatusPage returns the page of this node: its status and events, the
// Observer's health checks, a link to /metrics, and jangadactl commands
// pointed at this node's QUIC endpoint.
func NewStatusPage(p StatusPageParams) (*observe.StatusPage, error) {
	title := p.AppName
	if title == "" {
		title = "kvstore"
	}
	var endpoint string
	if p.Config.Transport != TransportMem {
		endpoint = p.Config.ListenAddr
	}
	return observe.NewStatusPage(observe.StatusPageConfig{
		Title:           title,
		Health:          p.Observer.Health,
		MetricsURL:      "/metrics",
		ControlEndpoint: endpoint,
	})
}

func statusPageRoutes(page *observe.StatusPage) []Route {
	return []Route{{
		Pattern: "GET " + StatusPagePath,
		Handler: http.StripPrefix(StatusPagePath[:len(StatusPagePath)-1], page.Handler()),
	}}
}

// attachStatusPage attaches the page once the node has started. Taking the
// HTTPServer orders the hooks: the page closes, ending its open streams,
// before the server drains, which would otherwise wait for them.
func attachStatusPage(lc fx.Lifecycle, page *observe.StatusPage, r *Replica, _ *HTTPServer) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return page.Attach(r) },
		OnStop:  func(context.Context) error { return page.Close() },
	})
}
