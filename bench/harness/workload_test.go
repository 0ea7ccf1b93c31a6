package harness

import (
	"context"
	"testing"
	"time"
)

func TestDriveCountsOnlyTheMeasuredWindow(t *testing.T) {
	var calls int
	var mu = make(chan struct{}, 1)
	op := func(ctx context.Context) error {
		mu <- struct{}{}
		calls++
		<-mu
		return nil
	}
	m := Drive(context.Background(), 2, Window{Warmup: 20 * time.Millisecond, Duration: 50 * time.Millisecond}, 8, op)
	if m.Ops == 0 || m.Ops >= int64(calls) {
		t.Fatalf("counted %d of %d calls: the warm-up must be excluded and the window counted", m.Ops, calls)
	}
	if m.Errors != 0 || m.Elapsed != 50*time.Millisecond {
		t.Fatalf("errors %d elapsed %v", m.Errors, m.Elapsed)
	}
}
