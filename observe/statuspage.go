package observe

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// StatusPageConfig configures a StatusPage. The zero value is valid.
type StatusPageConfig struct {
	// Title names the application on the page ("kvstore"). Default: "jangada".
	Title string
	// Health returns this node's health report, shown check by check with
	// its message; Observer.Health fits. Default: nil, no health section.
	Health func(ctx context.Context) Report
	// MetricsURL is the Prometheus endpoint the page links to ("/metrics").
	// Default: "", no link.
	MetricsURL string
	// ControlEndpoint is the jangada/mgmt/1 address that the jangadactl
	// commands shown on the page point at ("127.0.0.1:7001"). Default: "",
	// the commands are shown without --endpoints.
	ControlEndpoint string
	// Interval is how often an open page receives a fresh snapshot while
	// nothing happens; events push one at once. Default: 1s.
	Interval time.Duration
	// MaxEvents is the number of recent events kept. Default: 50.
	MaxEvents int
	// MaxStreams bounds the live streams served at once; more are refused
	// with 503 (the browser retries). Default: 32.
	MaxStreams int
}

const (
	defaultPageTitle      = "jangada"
	defaultPageInterval   = time.Second
	defaultPageMaxEvents  = 50
	defaultPageMaxStreams = 32
	// streamWriteWindow bounds each write of a live stream, so that a
	// client that stopped reading is dropped, while the stream as a whole
	// outlives the HTTP server's write timeout.
	streamWriteWindow = 30 * time.Second
	// streamRetry is the reconnection delay the browser is told to use.
	streamRetry = 2 * time.Second
)

func (c StatusPageConfig) withDefaults() StatusPageConfig {
	if c.Title == "" {
		c.Title = defaultPageTitle
	}
	if c.Interval == 0 {
		c.Interval = defaultPageInterval
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = defaultPageMaxEvents
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = defaultPageMaxStreams
	}
	return c
}

// Validate reports the first problem with c as an error wrapping
// ErrInvalidConfig.
func (c StatusPageConfig) Validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("%w: status page Interval %v is negative", ErrInvalidConfig, c.Interval)
	case c.MaxEvents < 0:
		return fmt.Errorf("%w: status page MaxEvents %d is negative", ErrInvalidConfig, c.MaxEvents)
	case c.MaxStreams < 0:
		return fmt.Errorf("%w: status page MaxStreams %d is negative", ErrInvalidConfig, c.MaxStreams)
	}
	return nil
}

// StatusPage is a live web page of one node's view of the cluster: members
// with their role, address, health and replication lag, the leader, term
// and indexes, this node's health checks and the recent events. Its
// Handler serves the page (HTML, CSS and JavaScript embedded in the
// binary: no external assets), a JSON snapshot and a Server-Sent Events
// stream of snapshots that keeps the page current without reloading.
//
// Attach the node to start recording its events; Close ends the recording
// and every open stream. All methods are safe for concurrent use.
type StatusPage struct {
	cfg     StatusPageConfig
	now     func() time.Time
	streams chan struct{} // one token per stream served
	done    chan struct{} // closed by Close

	mu       sync.Mutex
	node     NodeSource
	closed   bool
	stop     context.CancelFunc
	watching chan struct{} // closed when the watch goroutine returned
	events   []PageEvent   // ring of the latest cfg.MaxEvents
	next     int           // where the next event goes once the ring is full
	changed  chan struct{} // closed and replaced when an event arrives
}

// NewStatusPage returns a page with nothing attached yet. It returns an
// error wrapping ErrInvalidConfig for a bad cfg.
func NewStatusPage(cfg StatusPageConfig) (*StatusPage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &StatusPage{
		cfg:     cfg,
		now:     time.Now,
		streams: make(chan struct{}, cfg.MaxStreams),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}, nil
}

// Attach starts following n's status and events. A page shows one node; a
// second Attach returns ErrAttached, one after Close ErrClosed.
func (p *StatusPage) Attach(n NodeSource) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.node != nil:
		return ErrAttached
	}
	ctx, stop := context.WithCancel(context.Background())
	events := n.Subscribe(ctx)
	p.node, p.stop, p.watching = n, stop, make(chan struct{})
	go p.watch(ctx, events)
	p.notifyLocked()
	return nil
}

// Close stops following the node and ends every open stream; the browser's
// reconnections are then refused. It does not close the node.
func (p *StatusPage) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	stop, watching := p.stop, p.watching
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-watching
	}
	return nil
}

func (p *StatusPage) watch(ctx context.Context, events <-chan raftcore.Event) {
	defer close(p.watching)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if pe, keep := pageEventOf(ev, p.now()); keep {
				p.record(pe)
			}
		}
	}
}

func (p *StatusPage) record(ev PageEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.events) < p.cfg.MaxEvents {
		p.events = append(p.events, ev)
	} else {
		p.events[p.next] = ev
		p.next = (p.next + 1) % len(p.events)
	}
	p.notifyLocked()
}

// notifyLocked wakes every stream waiting on the current changed channel.
func (p *StatusPage) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// PageEvent is one recent event as the page shows it.
type PageEvent struct {
	Time time.Time `json:"time"`
	// Type is raftcore's name of the event ("LeaderElected", "MemberAdded",
	// "SnapshotCreated", ...).
	Type string `json:"type"`
	// Text says what happened in a sentence.
	Text string `json:"text"`
}

// pageEventOf describes ev for the page; term changes and role changes of
// other kinds are left out as the leader election already tells them.
func pageEventOf(ev raftcore.Event, at time.Time) (PageEvent, bool) {
	var text string
	switch ev.Type {
	case raftcore.EventLeaderElected:
		text = fmt.Sprintf("node %d elected leader for term %d", ev.Leader, ev.Term)
	case raftcore.EventRoleChanged:
		text = fmt.Sprintf("this node became %v (term %d)", ev.Role, ev.Term)
	case raftcore.EventMemberAdded:
		// The event's Role is the one the member starts in: a learner, or
		// a follower for a voter.
		kind := raftcore.MemberVoter
		if ev.Role == raftcore.RoleLearner {
			kind = raftcore.MemberLearner
		}
		text = fmt.Sprintf("member %d (%s) added as %s", ev.Member.ID, ev.Member.Addr, kind)
	case raftcore.EventMemberRemoved:
		text = fmt.Sprintf("member %d (%s) removed", ev.Member.ID, ev.Member.Addr)
	case raftcore.EventMemberUpdated:
		text = fmt.Sprintf("member %d's address or key updated (at %s)", ev.Member.ID, ev.Member.Addr)
	case raftcore.EventSnapshotCreated:
		text = fmt.Sprintf("snapshot created at index %d", ev.Index)
	case raftcore.EventSnapshotInstalled:
		text = fmt.Sprintf("snapshot installed at index %d (sent by the leader)", ev.Index)
	case raftcore.EventsLost:
		text = fmt.Sprintf("%d events not recorded: the page fell behind", ev.Lost)
	default:
		return PageEvent{}, false
	}
	name := ev.Type.String()
	return PageEvent{Time: at.UTC(), Type: name, Text: text}, true
}

// PageSnapshot is everything the page shows at one moment: the JSON of
// GET snapshot and of each message of the stream.
type PageSnapshot struct {
	Time  time.Time `json:"time"`
	Title string    `json:"title"`
	// Node is this node's Status; Members repeats its members with what the
	// page adds to them.
	Node    NodeStatus   `json:"node"`
	Members []PageMember `json:"members"`
	// Health is this node's health report, when the page has one.
	Health *Report `json:"health,omitempty"`
	// Events are the recent events, newest first.
	Events []PageEvent `json:"events"`
	// MetricsURL links to the Prometheus metrics; "" when there is none.
	MetricsURL string `json:"metrics_url,omitempty"`
	// Commands are the jangadactl commands that show the same views.
	Commands PageCommands `json:"commands"`
}

// PageMember is one member as the page shows it.
type PageMember struct {
	MemberStatus
	// Leader marks the member this node knows as leader; Self this node.
	Leader bool `json:"leader"`
	Self   bool `json:"self"`
	// Health is "ok", "probing", "snapshot" (receiving one) or
	// "unreachable" as the leader sees the member, this node's overall
	// health for itself, and "unknown" for others on a follower.
	Health string `json:"health"`
	// Lag is how many entries the member's log is behind the most
	// advanced one, for the leader's peers; only the leader knows it.
	Lag *uint64 `json:"lag,omitempty"`
}

// PageCommands are the jangadactl command lines of each view.
type PageCommands struct {
	Status  string `json:"status"`
	Members string `json:"members"`
	Health  string `json:"health"`
	Events  string `json:"events"`
}

// Snapshot returns what the page shows now. It returns ErrNotAttached
// before Attach.
func (p *StatusPage) Snapshot(ctx context.Context) (PageSnapshot, error) {
	p.mu.Lock()
	n := p.node
	events := make([]PageEvent, 0, len(p.events))
	for i := range p.events {
		// Newest first: the ring's newest is just before next.
		events = append(events, p.events[(p.next-1-i+2*len(p.events))%len(p.events)])
	}
	p.mu.Unlock()
	if n == nil {
		return PageSnapshot{}, ErrNotAttached
	}
	st := n.Status()
	snap := PageSnapshot{
		Time:       p.now().UTC(),
		Title:      p.cfg.Title,
		Node:       StatusOf(st),
		Events:     events,
		MetricsURL: p.cfg.MetricsURL,
		Commands:   p.commands(),
	}
	if p.cfg.Health != nil {
		rep := p.cfg.Health(ctx)
		snap.Health = &rep
	}
	snap.Members = pageMembers(st, snap.Health)
	return snap, nil
}

func pageMembers(st raftcore.Status, health *Report) []PageMember {
	var leaderLast uint64
	if st.Role == raftcore.RoleLeader {
		for _, m := range st.Members {
			leaderLast = max(leaderLast, m.Match)
		}
	}
	out := make([]PageMember, 0, len(st.Members))
	for _, js := range StatusOf(st).Members {
		pm := PageMember{MemberStatus: js, Leader: js.ID == st.Leader, Self: js.ID == st.ID, Health: "unknown"}
		switch {
		case pm.Self && health != nil:
			pm.Health = string(health.Status)
		case pm.Self:
			pm.Health = "ok"
		case st.Role != raftcore.RoleLeader:
		case !js.RecentActive:
			pm.Health = "unreachable"
		case js.State == "probe":
			pm.Health = "probing"
		case js.State == "snapshot":
			pm.Health = "snapshot"
		default:
			pm.Health = "ok"
		}
		// The leader's own Match is what it has made durable, which may
		// trail what it sent to followers: a lag of itself would mislead.
		if st.Role == raftcore.RoleLeader && !pm.Self {
			lag := leaderLast - min(js.Match, leaderLast)
			pm.Lag = &lag
		}
		out = append(out, pm)
	}
	return out
}

func (p *StatusPage) commands() PageCommands {
	prefix := "jangadactl"
	if p.cfg.ControlEndpoint != "" {
		prefix += " --endpoints " + p.cfg.ControlEndpoint
	}
	return PageCommands{
		Status:  prefix + " status",
		Members: prefix + " member list",
		Health:  prefix + " health",
		Events:  prefix + " events --follow",
	}
}

//go:embed statuspage
var pageAssets embed.FS

// Handler serves the page at the root of its own path space:
//
//	GET /           the page (HTML)
//	GET /app.js     its script
//	GET /style.css  its style sheet
//	GET /snapshot   the PageSnapshot as JSON; 503 before Attach
//	GET /stream     Server-Sent Events: a "snapshot" event carrying the
//	                PageSnapshot's JSON at once, after every node event and
//	                every Interval; 503 when MaxStreams are open or after Close
//
// Mount it under a prefix with http.StripPrefix:
//
//	mux.Handle("GET /ui/", http.StripPrefix("/ui", page.Handler()))
//
// The page refers to the others by relative URLs, so it works under any
// prefix that ends with a slash. It carries no authentication of its own:
// put it behind the same checks as the API it sits next to.
func (p *StatusPage) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.asset("statuspage/index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /app.js", p.asset("statuspage/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", p.asset("statuspage/style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /snapshot", p.serveSnapshot)
	mux.HandleFunc("GET /stream", p.serveStream)
	return mux
}

// pageCSP allows the page nothing but its own script, style and stream.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (p *StatusPage) asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		data, err := pageAssets.ReadFile(name)
		if err != nil { // not reached: the files are embedded
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(data)
	}
}

func (p *StatusPage) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	snap, err := p.Snapshot(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

func (p *StatusPage) serveStream(w http.ResponseWriter, r *http.Request) {
	select {
	case <-p.done:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": ErrClosed.Error()})
		return
	default:
	}
	select {
	case p.streams <- struct{}{}:
		defer func() { <-p.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": fmt.Sprintf("observe: %d status streams open, the most served at once", p.cfg.MaxStreams)})
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold the stream back
	w.WriteHeader(http.StatusOK)
	if err := writeStream(w, rc, fmt.Sprintf("retry: %d\n\n", streamRetry.Milliseconds())); err != nil {
		return
	}
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	ctx := r.Context()
	for {
		p.mu.Lock()
		changed := p.changed
		p.mu.Unlock()
		if err := p.sendSnapshot(ctx, w, rc); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-ticker.C:
		case <-changed:
		}
	}
}

// sendSnapshot writes one "snapshot" event, or a "waiting" event before
// Attach.
func (p *StatusPage) sendSnapshot(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController) error {
	snap, err := p.Snapshot(ctx)
	if errors.Is(err, ErrNotAttached) {
		return writeStream(w, rc, "event: waiting\ndata: {\"error\":\"no node attached yet\"}\n\n")
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	// JSON from Marshal holds no newline, so it fits in one data line.
	return writeStream(w, rc, "event: snapshot\ndata: "+string(data)+"\n\n")
}

func writeStream(w http.ResponseWriter, rc *http.ResponseController, msg string) error {
	// Servers and recorders without deadlines or flushing say so with
	// http.ErrNotSupported; the stream then works as well as they allow.
	if err := rc.SetWriteDeadline(time.Now().Add(streamWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
