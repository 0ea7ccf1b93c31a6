package mgmt

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func clusterEvent(seq uint64) historyEntry {
	return historyEntry{ev: Event{Seq: seq, Type: EventMemberAdded}}
}

func nodeEvent() historyEntry { return historyEntry{ev: Event{Type: EventLeaderElected}} }

func drain(t *testing.T, c *cursor) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ev, err := c.next(ctx, false)
		cancel()
		if errors.Is(err, errEndOfHistory) {
			return seqs
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		seqs = append(seqs, ev.Seq)
	}
}

func TestResumeDeliversOnlyLaterClusterEvents(t *testing.T) {
	h := newHistory(100)
	h.coveredFrom = 3
	for _, e := range []historyEntry{clusterEvent(4), nodeEvent(), clusterEvent(6), clusterEvent(9), nodeEvent()} {
		h.append(e)
	}
	c, err := h.follow(4, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, c); len(got) != 2 || got[0] != 6 || got[1] != 9 {
		t.Errorf("resume after 4 replayed %v, want [6 9] (node events are not replayed on resume)", got)
	}
	c, _ = h.follow(0, false)
	if got := drain(t, c); len(got) != 5 {
		t.Errorf("a stream from the start replayed %v, want all 5 events", got)
	}
	c, _ = h.follow(0, true)
	if got := drain(t, c); len(got) != 3 {
		t.Errorf("a resumed stream from seq 0 replayed %v, want the 3 cluster events only", got)
	}
}

func TestResumeBeforeCoverageIsUnavailable(t *testing.T) {
	h := newHistory(100)
	h.coveredFrom = 10
	if _, err := h.follow(5, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("resume after 5 on a node covering after 10: %v, want ErrUnavailable", err)
	}
	if _, err := h.follow(10, false); err != nil {
		t.Errorf("resume after 10: %v", err)
	}
}

func TestEvictedHistoryIsUnavailable(t *testing.T) {
	h := newHistory(2)
	for seq := uint64(1); seq <= 5; seq++ {
		h.append(clusterEvent(seq))
	}
	if _, err := h.follow(2, false); !errors.Is(err, ErrUnavailable) {
		t.Errorf("resume after evicted seq 2: %v, want ErrUnavailable", err)
	}
	c, err := h.follow(3, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, c); len(got) != 2 || got[0] != 4 {
		t.Errorf("resume after 3 = %v, want [4 5]", got)
	}
}

func TestLiveGapEndsStreamsThatHadNotPassedIt(t *testing.T) {
	h := newHistory(100)
	h.append(clusterEvent(5))
	behind, _ := h.follow(5, false)
	ahead, _ := h.follow(5, false)
	h.append(historyEntry{gapUntil: 8}) // e.g. a snapshot installed at 8
	h.append(clusterEvent(9))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := behind.next(ctx, true); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a stream at seq 5 crossing a gap to 8: %v, want ErrUnavailable", err)
	}
	ahead.lastSeq = 8 // as if it had seen 8 elsewhere
	if ev, err := ahead.next(ctx, true); err != nil || ev.Seq != 9 {
		t.Errorf("a stream past the gap: %v, %v; want seq 9", ev, err)
	}
}

func TestFollowWaitsForNewEvents(t *testing.T) {
	h := newHistory(100)
	c, _ := h.follow(0, false)
	got := make(chan uint64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ev, _ := c.next(ctx, true)
		got <- ev.Seq
	}()
	h.append(clusterEvent(7))
	select {
	case seq := <-got:
		if seq != 7 {
			t.Errorf("follower got seq %d, want 7", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower not woken by a new event")
	}
}
