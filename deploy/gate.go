package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// GateError reports a node that did not pass its health gate. It wraps
// ErrHealthGate.
type GateError struct {
	Node   uint64
	Binary string // the installed binary it was started on
	Op     string // up, update, add
	Reason string // what was still wrong when the gate gave up
	// Halted says where the operation stopped and how to recover.
	Halted string
	// Log is the end of the node's log.
	Log string
}

func (e *GateError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: node %d on %s (%s): %s", ErrHealthGate, e.Node, e.Binary, e.Op, e.Reason)
	if e.Halted != "" {
		b.WriteString("; " + e.Halted)
	}
	if e.Log != "" {
		fmt.Fprintf(&b, "\nlast lines of node %d's log:\n%s", e.Node, e.Log)
	}
	return b.String()
}

func (e *GateError) Unwrap() error { return ErrHealthGate }

// pollInterval is how often a gate looks again.
const pollInterval = 100 * time.Millisecond

// gate waits until node id is healthy and caught up: its process runs, it
// answers management calls with no failing health check, its /ready says
// ready, and the leader reports it active within MaxLag entries of the
// commit index. It fails at once if the process exits, and after the
// health timeout otherwise.
func (l *Local) gate(ctx context.Context, s *state, id uint64, op string) error {
	err := l.poll(ctx, s, id, op, func(ctx context.Context) (string, error) { return l.healthy(ctx, s, id) })
	if err != nil {
		return err
	}
	s.node(id).Formed = true
	return nil
}

// poll calls check until it succeeds, the node's process exits, or the
// health timeout passes.
func (l *Local) poll(ctx context.Context, s *state, id uint64, what string, check func(ctx context.Context) (string, error)) error {
	began := time.Now()
	deadline := began.Add(l.healthTimeout())
	ns := s.node(id)
	var last error
	for {
		if gone, werr := l.exited(id, ns.PID); gone {
			reason := "the process exited"
			if werr != nil {
				reason += " (" + werr.Error() + ")"
			}
			return &GateError{Node: id, Binary: label(ns.Binary), Op: what, Reason: reason, Log: l.logTail(id, 12)}
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		detail, err := check(cctx)
		cancel()
		if err == nil {
			if detail != "" {
				l.progress(id, time.Since(began), "%s", detail)
			}
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return &GateError{Node: id, Binary: label(ns.Binary), Op: what,
				Reason: fmt.Sprintf("not healthy after %ds (update.health_timeout_seconds): %v", l.cfg.Update.HealthTimeoutSeconds, last), Log: l.logTail(id, 12)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// healthy checks node id once.
func (l *Local) healthy(ctx context.Context, s *state, id uint64) (string, error) {
	lag, err := l.caughtUp(ctx, s, id)
	if err != nil {
		return "", err
	}
	n, _ := l.cfg.node(id)
	cl, closeFn, err := l.dial(ctx, s, []uint64{id})
	if err != nil {
		return "", err
	}
	defer closeFn()
	checks, err := cl.Health(ctx, raftcore.Peer{ID: id, Addr: n.RaftAddr()})
	if err != nil {
		return "", fmt.Errorf("health: %w", err)
	}
	for _, c := range checks {
		if c.Status == mgmt.HealthFail {
			return "", fmt.Errorf("health check %s fails: %s", c.Name, c.Message)
		}
	}
	if err := l.ready(ctx, n); err != nil {
		return "", err
	}
	return "healthy and caught up (" + lag + ")", nil
}

// caughtUp reports whether the leader sees node id as an active member
// within MaxLag entries of its commit index.
func (l *Local) caughtUp(ctx context.Context, s *state, id uint64) (string, error) {
	members := s.Members
	if !s.isMember(id) {
		members = append(append([]uint64(nil), members...), id)
	}
	cl, closeFn, err := l.dial(ctx, s, members)
	if err != nil {
		return "", err
	}
	defer closeFn()
	st, err := cl.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	if st.Leader == 0 || st.ID != st.Leader {
		return "", fmt.Errorf("no leader answers (node %d knows leader %d)", st.ID, st.Leader)
	}
	return caughtUp(st, id, l.cfg.Update.MaxLag)
}

// ready asks node n's GET /ready.
func (l *Local) ready(ctx context.Context, n Node) error {
	return readyCheck(ctx, l.lc.HTTPClient, n.HTTPAddr())
}

// readyCheck asks GET /ready of the node at the HTTP address addr.
func readyCheck(ctx context.Context, client *http.Client, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/ready", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("/ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// appVersion returns the version node n's GET /v1/status reports, or "".
func (l *Local) appVersion(ctx context.Context, n Node) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTPAddr()+"/v1/status", nil)
	if err != nil {
		return ""
	}
	resp, err := l.lc.HTTPClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Version string `json:"version"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st) != nil {
		return ""
	}
	return st.Version
}
