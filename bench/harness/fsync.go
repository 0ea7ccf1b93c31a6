package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// FsyncFloor is the cost of making a small write durable on the disk under
// the results directory: no replicated log can acknowledge a durable write
// faster than this.
type FsyncFloor struct {
	BlockSize int
	Samples   int
	P50, P99  time.Duration
}

// ProbeFsync appends samples blocks of blockSize bytes to a file in dir,
// each followed by fdatasync, and returns the latency percentiles.
func ProbeFsync(dir string, blockSize, samples int) (FsyncFloor, error) {
	if blockSize <= 0 || samples <= 0 {
		return FsyncFloor{}, fmt.Errorf("%w: fsync probe needs a positive block size and sample count", ErrInvalidConfig)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return FsyncFloor{}, err
	}
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return FsyncFloor{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, blockSize)
	FillPayload(block)
	rec := NewRecorder()
	for range samples {
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			return FsyncFloor{}, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return FsyncFloor{}, fmt.Errorf("bench: fdatasync %s: %w", filepath.Base(f.Name()), err)
		}
		rec.Record(time.Since(t0))
	}
	s := rec.Summarize(time.Second, 0)
	return FsyncFloor{BlockSize: blockSize, Samples: samples, P50: s.P50, P99: s.P99}, nil
}
