package discovery

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jangada-io/jangada/mgmt"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// fakeNode is a leader whose status the test sets; it records the changes
// asked of it.
type fakeNode struct {
	mgmt.Node
	mu       sync.Mutex
	st       raftcore.Status
	promoted []uint64
	removed  []uint64
}

func (f *fakeNode) Status() raftcore.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Members = slices.Clone(f.st.Members)
	return st
}

func (f *fakeNode) PromoteLearner(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.promoted = append(f.promoted, id)
	return nil
}

func (f *fakeNode) RemoveMember(_ context.Context, id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	f.st.Members = slices.DeleteFunc(f.st.Members, func(m raftcore.MemberStatus) bool { return m.ID == id })
	return nil
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func member(id uint64, role raftcore.MemberRole, match uint64, active bool) raftcore.MemberStatus {
	return raftcore.MemberStatus{Peer: raftcore.Peer{ID: id}, Role: role, Match: match, RecentActive: active}
}

func TestAutopilotPromotesALearnerCaughtUpForTheStabilizationTime(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	cfg := AutopilotConfig{MaxLag: 10, StabilizationTime: 5 * time.Second}.withDefaults()
	a := newAutopilot(cfg, clock.Now, slog.New(slog.DiscardHandler))
	node := &fakeNode{st: raftcore.Status{ID: 1, Role: raftcore.RoleLeader, CommitIndex: 100, Members: []raftcore.MemberStatus{
		member(1, raftcore.MemberVoter, 100, true), member(2, raftcore.MemberLearner, 50, true)}}}
	ctx := context.Background()
	step := func(match uint64, advance time.Duration) bool {
		t.Helper()
		clock.now = clock.now.Add(advance)
		node.mu.Lock()
		node.st.Members[1].Match = match
		node.mu.Unlock()
		voter, _, err := a.consider(ctx, node, 2)
		if err != nil {
			t.Fatal(err)
		}
		return voter
	}
	for _, s := range []struct {
		name    string
		match   uint64
		advance time.Duration
		want    bool
	}{
		{"lag 50 > 10", 50, 0, false},
		{"caught up: the clock starts", 95, time.Second, false},
		{"caught up 4s", 95, 4 * time.Second, false},
		{"fell behind: the clock resets", 80, 500 * time.Millisecond, false},
		{"caught up again", 100, time.Second, false},
		{"caught up 4.9s", 100, 4900 * time.Millisecond, false},
		{"caught up 5s: promoted", 100, 100 * time.Millisecond, true},
	} {
		if got := step(s.match, s.advance); got != s.want {
			t.Fatalf("%s: promoted %v, want %v", s.name, got, s.want)
		}
	}
	if !slices.Equal(node.promoted, []uint64{2}) {
		t.Fatalf("promoted %v, want [2]", node.promoted)
	}
}

func TestAutopilotPromotionCanBeTurnedOff(t *testing.T) {
	a := newAutopilot(AutopilotConfig{DisablePromotion: true}.withDefaults(), time.Now, slog.New(slog.DiscardHandler))
	node := &fakeNode{st: raftcore.Status{ID: 1, Role: raftcore.RoleLeader, CommitIndex: 10, Members: []raftcore.MemberStatus{
		member(1, raftcore.MemberVoter, 10, true), member(2, raftcore.MemberLearner, 10, true)}}}
	if _, _, err := a.consider(context.Background(), node, 2); err == nil || len(node.promoted) != 0 {
		t.Fatalf("promotion off: err %v, promoted %v", err, node.promoted)
	}
}

func TestAutopilotRemovesDeadVotersOnlyWhenFaultToleranceAllows(t *testing.T) {
	for _, tc := range []struct {
		name        string
		active      []bool // voters 1..n; voter 1 leads
		minVoters   int
		wantRemoved []uint64
	}{
		{"5 voters, 1 dead: removed", []bool{true, true, true, true, false}, 0, []uint64{5}},
		{"3 voters, 1 dead: kept (min voters 3)", []bool{true, true, false}, 0, nil},
		{"3 voters, 1 dead, min voters 2: removed", []bool{true, true, false}, 2, []uint64{3}},
		{"5 voters, 3 dead: kept (no reachable quorum of 4)", []bool{true, true, false, false, false}, 0, nil},
		{"4 voters, 2 dead: one removed, then kept at 3", []bool{true, true, false, false}, 0, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1000, 0)}
			a := newAutopilot(AutopilotConfig{DeadVoterTimeout: 10 * time.Second, MinVoters: tc.minVoters}.withDefaults(), clock.Now, slog.New(slog.DiscardHandler))
			node := &fakeNode{st: raftcore.Status{ID: 1, Role: raftcore.RoleLeader}}
			for i, active := range tc.active {
				node.st.Members = append(node.st.Members, member(uint64(i+1), raftcore.MemberVoter, 0, active))
			}
			a.setNode(node)
			ctx := context.Background()
			a.checkDeadVoters(ctx) // first seen unreachable
			clock.now = clock.now.Add(9 * time.Second)
			a.checkDeadVoters(ctx)
			if len(node.removed) != 0 {
				t.Fatalf("removed %v before the timeout", node.removed)
			}
			for range 3 {
				clock.now = clock.now.Add(2 * time.Second)
				a.checkDeadVoters(ctx)
			}
			if !slices.Equal(node.removed, tc.wantRemoved) {
				t.Fatalf("removed %v, want %v", node.removed, tc.wantRemoved)
			}
		})
	}
}

func TestAutopilotDeadVoterRemovalIsOffByDefault(t *testing.T) {
	a := newAutopilot(AutopilotConfig{}.withDefaults(), time.Now, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { a.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with the removal off did not return")
	}
}
