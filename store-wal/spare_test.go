package storewal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// gatedFS makes the creation of every spare segment wait for a value on
// gate, and reports on made when a spare is complete (synced and closed).
type gatedFS struct {
	fileSystem
	gate chan struct{}
	made chan struct{}
}

func (g gatedFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	if flag&os.O_CREATE == 0 || !isSpareName(filepath.Base(name)) {
		return g.fileSystem.OpenFile(name, flag, perm)
	}
	select {
	case <-g.gate:
	case <-time.After(time.Minute):
		return nil, errors.New("the test never let this spare be made")
	}
	f, err := g.fileSystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return gatedFile{f, g.made}, nil
}

type gatedFile struct {
	file
	made chan struct{}
}

func (f gatedFile) Close() error {
	err := f.file.Close()
	f.made <- struct{}{}
	return err
}

// within runs fn and fails the test if it fails or does not return within
// d: the store blocked on the gate.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s waited for a spare segment being made", what)
	}
}

// saveUntil saves entries from *next on until the store writes to a segment
// after seq.
func saveUntil(s *LogStore, seq uint64, next *uint64) error {
	for s.w.curSeq == seq {
		err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(0))}, entries(*next, *next+9, 1000), nil)
		if err != nil {
			return err
		}
		*next += 10
	}
	return nil
}

// TestSparesAreMadeWhileSavesGoOn checks that neither Open nor a rollover
// zero-fills a segment while its caller waits: a spare is made by a
// goroutine, ahead of the rollover that will take it.
func TestSparesAreMadeWhileSavesGoOn(t *testing.T) {
	g := gatedFS{fileSystem: osFS{}, gate: make(chan struct{}), made: make(chan struct{}, 8)}
	var s *LogStore
	within(t, 10*time.Second, "Open", func() (err error) {
		s, err = open(Config{Dir: t.TempDir(), SegmentSize: minSegmentSize}, g)
		return err
	})
	defer func() {
		close(g.gate) // lets any spare still waiting be made, so Close returns
		mustClose(t, s)
	}()
	// release lets the spare being made proceed and waits until it is.
	release := func(what string) {
		t.Helper()
		select {
		case g.gate <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("no spare is being made %s", what)
		}
		select {
		case <-g.made:
		case <-time.After(10 * time.Second):
			t.Fatalf("the spare started %s was not made", what)
		}
	}
	release("after Open")

	// The first rollover takes that spare and starts the next one, which
	// the gate holds back: Saves go on meanwhile.
	next := uint64(1)
	within(t, 10*time.Second, "the first rollover", func() error { return saveUntil(s, 1, &next) })
	release("after the first rollover")

	// The second rollover finds it made: it does not make one itself.
	within(t, 10*time.Second, "the second rollover", func() error { return saveUntil(s, 2, &next) })
}
