package storepebble_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/jangada-io/jangada/store-pebble"
)

// childDirEnv makes the test binary run as the writer process of
// TestKillDuringSavesLosesNothingAcknowledged instead of running tests.
const childDirEnv = "STOREPEBBLE_CRASH_CHILD_DIR"

// crashChildMain runs the writer when the environment asks for it: it opens
// the store, appends batches forever and prints "ack <last index> <term>"
// after each Save returns. It reports whether it ran.
func crashChildMain() bool {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		return false
	}
	if err := runCrashChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	os.Exit(0)
	return true
}

func runCrashChild(dir string) error {
	store, err := storepebble.Open(storepebble.Config{Dir: dir})
	if err != nil {
		return err
	}
	hs, _, err := store.InitialState()
	if err != nil {
		return err
	}
	last, err := store.LastIndex()
	if err != nil {
		return err
	}
	term := hs.GetTerm() + 1 // a new term per run, as after an election
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for {
		// Now and then overwrite the last two entries, as a new leader
		// would, but always end beyond the previous last index.
		lo := last + 1
		if last > 2 && rng.IntN(4) == 0 {
			lo = last - 1
		}
		n := uint64(3 + rng.IntN(30))
		entries := make([]*raftpb.Entry, n)
		for i := range entries {
			entries[i] = entryAt(lo+uint64(i), term)
		}
		hs := &raftpb.HardState{Term: new(term), Vote: new(uint64(1)), Commit: new(lo - 1)}
		if err := store.Save(hs, entries, nil); err != nil {
			return err
		}
		last = lo + n - 1
		if _, err := fmt.Fprintf(os.Stdout, "ack %d %d\n", last, term); err != nil {
			return err
		}
	}
}

// TestKillDuringSavesLosesNothingAcknowledged runs the store in a child
// process, kills it with SIGKILL at a random point while it saves, and
// checks after each kill that every entry the child acknowledged is there
// and that the log is consistent. While the child runs, this process must
// not be able to open the directory.
func TestKillDuringSavesLosesNothingAcknowledged(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	const kills = 12
	for kill := range kills {
		ackedLast, ackedTerm := runAndKill(t, dir, 1+rng.IntN(40), func() {
			// The running child holds the directory.
			if _, err := storepebble.Open(storepebble.Config{Dir: dir}); !errors.Is(err, storepebble.ErrLocked) {
				t.Errorf("Open while another process writes: error %v, want ErrLocked", err)
			}
		})
		store := openTestStore(t, storepebble.Config{Dir: dir})
		checkKilledLog(t, store, ackedLast, ackedTerm)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Fatalf("seed %d: failed after kill %d", seed, kill)
		}
	}
}

// runAndKill starts the child, calls whileRunning after it printed acks
// acknowledgements, kills it and returns the last acknowledgement.
func runAndKill(t *testing.T, dir string, acks int, whileRunning func()) (last, term uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Bound the whole run: a child that hangs is killed and the test fails.
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	lines := bufio.NewScanner(stdout)
	for seen := 0; seen < acks && lines.Scan(); seen++ {
		fields := strings.Fields(lines.Text())
		if len(fields) != 3 || fields[0] != "ack" {
			t.Fatalf("child printed %q", lines.Text())
		}
		last, _ = strconv.ParseUint(fields[1], 10, 64)
		term, _ = strconv.ParseUint(fields[2], 10, 64)
	}
	whileRunning()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() {
		t.Fatalf("child ended before it was killed: %v", err)
	}
	if last == 0 {
		t.Fatalf("child acknowledged nothing")
	}
	return last, term
}

// checkKilledLog checks that the log reaches at least the acknowledged index
// with at least the acknowledged term there, and that every entry is the
// one its index and term name, with terms never decreasing.
func checkKilledLog(t *testing.T, store interface {
	LastIndex() (uint64, error)
	Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error)
	InitialState() (*raftpb.HardState, *raftpb.ConfState, error)
}, ackedLast, ackedTerm uint64) {
	t.Helper()
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if last < ackedLast {
		t.Fatalf("last index %d after the kill, acknowledged %d", last, ackedLast)
	}
	hs, _, err := store.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	if hs.GetTerm() < ackedTerm {
		t.Fatalf("hard state term %d after the kill, acknowledged %d", hs.GetTerm(), ackedTerm)
	}
	entries, err := store.Entries(1, last+1, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	var prevTerm uint64
	for i, e := range entries {
		want := entryAt(uint64(i)+1, e.GetTerm())
		if e.GetIndex() != uint64(i)+1 || string(e.GetData()) != string(want.GetData()) || e.GetTerm() < prevTerm {
			t.Fatalf("entry at position %d: index %d term %d data %q (previous term %d)", i, e.GetIndex(), e.GetTerm(), e.GetData(), prevTerm)
		}
		prevTerm = e.GetTerm()
	}
	if entries[ackedLast-1].GetTerm() < ackedTerm {
		t.Fatalf("entry %d has term %d, acknowledged at term %d", ackedLast, entries[ackedLast-1].GetTerm(), ackedTerm)
	}
}
