package adapters

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jangada-io/jangada/bench/harness"
)

// TestCeilingsRoundTrip: every ceiling completes concurrent writes, refuses
// reads, honours a canceled context and closes cleanly.
func TestCeilingsRoundTrip(t *testing.T) {
	for _, sys := range ceilingSystems() {
		t.Run(sys.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := sys.Start(ctx, harness.ClusterSpec{Nodes: 2})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Go(func() {
					for range 50 {
						if err := c.Write(ctx, make([]byte, 64)); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("write: %v", err)
			}
			if err := c.Read(ctx, harness.ReadIndex); !errors.Is(err, harness.ErrUnsupported) {
				t.Errorf("read: %v, want ErrUnsupported", err)
			}
			done, stop := context.WithCancel(ctx)
			stop()
			if err := c.Write(done, []byte("x")); !errors.Is(err, context.Canceled) {
				t.Errorf("write with a canceled context: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}
