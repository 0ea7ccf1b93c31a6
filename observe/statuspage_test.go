package observe

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func newTestPage(t testing.TB, cfg StatusPageConfig) *StatusPage {
	t.Helper()
	p, err := NewStatusPage(cfg)
	if err != nil {
		t.Fatalf("NewStatusPage: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// laggingLeader is leaderStatus with node 2 five entries behind and node 3
// unreachable and probed.
func laggingLeader() raftcore.Status {
	st := leaderStatus(3)
	st.Members[1].Match = 5
	st.Members[2].Match, st.Members[2].State = 7, "probe"
	return st
}

func decodeSnapshot(t testing.TB, body []byte) PageSnapshot {
	t.Helper()
	var s PageSnapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return s
}

func TestStatusPageSnapshotMarksLeaderLagAndHealth(t *testing.T) {
	node := newFakeNode(laggingLeader())
	health := Report{Status: HealthDegraded, Checks: []CheckResult{{Name: CheckQuorum, Status: HealthDegraded, Message: "2 of 3 voters reachable"}}}
	p := newTestPage(t, StatusPageConfig{
		Title:           "kvstore",
		Health:          func(context.Context) Report { return health },
		MetricsURL:      "/metrics",
		ControlEndpoint: "127.0.0.1:7001",
	})
	if err := p.Attach(node); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, p.Handler(), "/snapshot")
	if code != http.StatusOK {
		t.Fatalf("GET /snapshot: %d %s", code, body)
	}
	s := decodeSnapshot(t, body)
	if s.Title != "kvstore" || s.Node.Leader != 1 || s.Node.Term != 3 || s.MetricsURL != "/metrics" {
		t.Fatalf("snapshot: %+v", s)
	}
	want := []struct {
		id     uint64
		leader bool
		health string
		lag    uint64
	}{
		{1, true, "degraded", 0},     // itself: its own health report
		{2, false, "ok", 5},          // answering, 5 entries behind
		{3, false, "unreachable", 3}, // silent for an election timeout
	}
	if len(s.Members) != len(want) {
		t.Fatalf("members: %+v", s.Members)
	}
	for i, w := range want {
		m := s.Members[i]
		lagOK := m.Lag != nil && *m.Lag == w.lag
		if m.Self {
			lagOK = m.Lag == nil
		}
		if m.ID != w.id || m.Leader != w.leader || m.Self != (w.id == 1) || m.Health != w.health || !lagOK {
			t.Errorf("member %d: %+v (lag %v); want %+v", w.id, m, m.Lag, w)
		}
	}
	if s.Health == nil || s.Health.Checks[0].Message != "2 of 3 voters reachable" {
		t.Errorf("health: %+v", s.Health)
	}
	if s.Commands.Status != "jangadactl --endpoints 127.0.0.1:7001 status" || s.Commands.Events != "jangadactl --endpoints 127.0.0.1:7001 events --follow" {
		t.Errorf("commands: %+v", s.Commands)
	}
}

func TestStatusPageOnFollowerLeavesLagUnknown(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{})
	if err := p.Attach(newFakeNode(followerStatus(1))); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, p.Handler(), "/snapshot")
	s := decodeSnapshot(t, body)
	for _, m := range s.Members {
		if m.Lag != nil {
			t.Errorf("member %d: lag %d on a follower, which cannot know it", m.ID, *m.Lag)
		}
		if want := map[bool]string{true: "ok", false: "unknown"}[m.Self]; m.Health != want {
			t.Errorf("member %d: health %q, want %q", m.ID, m.Health, want)
		}
		if m.Leader != (m.ID == 1) {
			t.Errorf("member %d: leader %v", m.ID, m.Leader)
		}
	}
	if s.Health != nil {
		t.Errorf("health %+v without a Health function", s.Health)
	}
	if s.Commands.Health != "jangadactl health" {
		t.Errorf("commands without an endpoint: %+v", s.Commands)
	}
	if !strings.Contains(string(body), `"events": []`) {
		t.Errorf("no events should be an empty list, not null: %s", body)
	}
}

func TestStatusPageKeepsTheLatestEventsNewestFirst(t *testing.T) {
	node := newFakeNode(leaderStatus())
	p := newTestPage(t, StatusPageConfig{MaxEvents: 3})
	if err := p.Attach(node); err != nil {
		t.Fatal(err)
	}
	node.events <- raftcore.Event{Type: raftcore.EventTermChanged, Term: 4} // not shown
	for i := uint64(1); i <= 5; i++ {
		node.events <- raftcore.Event{Type: raftcore.EventSnapshotCreated, Index: i * 100}
	}
	node.events <- raftcore.Event{Type: raftcore.EventLeaderElected, Leader: 2, Term: 4}
	var s PageSnapshot
	clustertest.WaitFor(t, "the leader election on the page", 10*time.Second, func() bool {
		var err error
		s, err = p.Snapshot(context.Background())
		return err == nil && len(s.Events) > 0 && s.Events[0].Type == "LeaderElected"
	})
	var got []string
	for _, e := range s.Events {
		got = append(got, e.Text)
	}
	want := []string{"node 2 elected leader for term 4", "snapshot created at index 500", "snapshot created at index 400"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestStatusPageEventTexts(t *testing.T) {
	member := raftcore.Peer{ID: 4, Addr: "127.0.0.1:7004"}
	tests := []struct {
		ev   raftcore.Event
		want string
	}{
		{raftcore.Event{Type: raftcore.EventMemberAdded, Member: member, Role: raftcore.RoleLearner}, "member 4 (127.0.0.1:7004) added as learner"},
		{raftcore.Event{Type: raftcore.EventMemberAdded, Member: member, Role: raftcore.RoleFollower}, "member 4 (127.0.0.1:7004) added as voter"},
		{raftcore.Event{Type: raftcore.EventMemberUpdated, Member: member}, "member 4's address or key updated (at 127.0.0.1:7004)"},
		{raftcore.Event{Type: raftcore.EventMemberRemoved, Member: member}, "member 4 (127.0.0.1:7004) removed"},
		{raftcore.Event{Type: raftcore.EventSnapshotInstalled, Index: 9}, "snapshot installed at index 9 (sent by the leader)"},
		{raftcore.Event{Type: raftcore.EventRoleChanged, Role: raftcore.RoleFollower, Term: 7}, "this node became follower (term 7)"},
		{raftcore.Event{Type: raftcore.EventsLost, Lost: 12}, "12 events not recorded: the page fell behind"},
	}
	for _, tt := range tests {
		got, ok := pageEventOf(tt.ev, time.Unix(0, 0))
		if !ok || got.Text != tt.want || got.Type != tt.ev.Type.String() {
			t.Errorf("%v: %+v, %v; want %q", tt.ev, got, ok, tt.want)
		}
	}
}

func TestStatusPageBeforeAttach(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{})
	if code, body := get(t, p.Handler(), "/snapshot"); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "no node attached") {
		t.Fatalf("GET /snapshot before Attach: %d %s", code, body)
	}
	if _, err := p.Snapshot(context.Background()); !errors.Is(err, ErrNotAttached) {
		t.Fatalf("Snapshot before Attach: %v", err)
	}
}

func TestStatusPageAttachTwiceAndAfterClose(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{})
	if err := p.Attach(newFakeNode(leaderStatus())); err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(newFakeNode(leaderStatus())); !errors.Is(err, ErrAttached) {
		t.Fatalf("second Attach: %v", err)
	}
	closed := newTestPage(t, StatusPageConfig{})
	_ = closed.Close()
	if err := closed.Attach(newFakeNode(leaderStatus())); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach after Close: %v", err)
	}
}

func TestStatusPageConfigValidate(t *testing.T) {
	for _, cfg := range []StatusPageConfig{{Interval: -time.Second}, {MaxEvents: -1}, {MaxStreams: -1}} {
		if _, err := NewStatusPage(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

func TestStatusPageAssetsAreSelfContained(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{})
	h := p.Handler()
	for _, tt := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `<script src="app.js"`},
		{"/app.js", "text/javascript", `new EventSource("stream")`},
		{"/style.css", "text/css", "prefers-color-scheme"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.contentType) || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s: %d %q, %.80q", tt.path, rec.Code, rec.Header().Get("Content-Type"), body)
		}
		// Works offline: nothing is loaded from anywhere else, which the
		// policy enforces in the browser as well.
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Errorf("GET %s refers to an external URL", tt.path)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, csp)
		}
	}
	if code, _ := get(t, h, "/other"); code != http.StatusNotFound {
		t.Errorf("GET /other: %d, want 404", code)
	}
}

// sseEvent is one message of a Server-Sent Events stream.
type sseEvent struct {
	name, data string
	retry      string
}

// readEvent reads one message: the lines up to a blank line.
func readEvent(t testing.TB, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v (after %q)", err, line)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			ev.data = strings.Join(data, "\n")
			return ev
		}
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "event":
			ev.name = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.retry = value
		default:
			t.Fatalf("unexpected stream line %q", line)
		}
	}
}

// openStream GETs /stream on srv, failing unless it is an event stream.
func openStream(t testing.TB, ctx context.Context, srv *httptest.Server) (*bufio.Reader, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /stream: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return bufio.NewReader(resp.Body), resp
}

func TestStatusPageStreamPushesEventsAtOnceAndEndsOnClose(t *testing.T) {
	node := newFakeNode(leaderStatus())
	// An hour's interval: every snapshot after the first is pushed by an
	// event, not by the clock.
	p := newTestPage(t, StatusPageConfig{Interval: time.Hour})
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	stream, _ := openStream(t, ctx, srv)
	if ev := readEvent(t, stream); ev.retry != "2000" {
		t.Fatalf("first message %+v, want the retry delay", ev)
	}
	if ev := readEvent(t, stream); ev.name != "waiting" {
		t.Fatalf("before Attach: %+v, want a waiting event", ev)
	}
	if err := p.Attach(node); err != nil {
		t.Fatal(err)
	}
	ev := readEvent(t, stream)
	if ev.name != "snapshot" || strings.Contains(ev.data, "\n") {
		t.Fatalf("after Attach: %+v, want one snapshot data line", ev)
	}
	if s := decodeSnapshot(t, []byte(ev.data)); s.Node.Leader != 1 || len(s.Events) != 0 {
		t.Fatalf("first snapshot: %+v", s)
	}

	node.set(followerStatus(2))
	node.events <- raftcore.Event{Type: raftcore.EventLeaderElected, Leader: 2, Term: 4}
	ev = readEvent(t, stream)
	s := decodeSnapshot(t, []byte(ev.data))
	if ev.name != "snapshot" || s.Node.Leader != 2 || len(s.Events) != 1 || s.Events[0].Text != "node 2 elected leader for term 4" {
		t.Fatalf("after an election: %+v", ev)
	}

	_ = p.Close()
	if line, err := stream.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close the stream goes on: %q, %v", line, err)
	}
	code, body := get(t, p.Handler(), "/stream")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("GET /stream after Close: %d %s", code, body)
	}
}

func TestStatusPageStreamRepeatsEveryInterval(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{Interval: 10 * time.Millisecond})
	if err := p.Attach(newFakeNode(leaderStatus())); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, _ := openStream(t, ctx, srv)
	readEvent(t, stream) // retry
	for i := range 3 {
		if ev := readEvent(t, stream); ev.name != "snapshot" {
			t.Fatalf("message %d: %+v", i, ev)
		}
	}
}

func TestStatusPageRefusesStreamsBeyondMaxStreams(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{MaxStreams: 1})
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first, _ := openStream(t, ctx, srv)
	readEvent(t, first) // served: the slot is taken

	resp, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %d %s, want 503 with Retry-After", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "1 status streams open") {
		t.Fatalf("second stream: %s", body)
	}
}

func TestStatusPageStreamSlotIsFreedWhenTheClientLeaves(t *testing.T) {
	p := newTestPage(t, StatusPageConfig{MaxStreams: 1})
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	first, cancelFirst := context.WithTimeout(context.Background(), 30*time.Second)
	stream, _ := openStream(t, first, srv)
	readEvent(t, stream)
	cancelFirst()
	clustertest.WaitFor(t, "a stream slot after the first client left", 10*time.Second, func() bool {
		resp, err := srv.Client().Get(srv.URL + "/stream")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
