package storetest

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

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// OpenFunc opens the durable LogStore kept in dir, creating it if dir is
// empty or missing.
type OpenFunc func(dir string) (raftcore.LogStore, error)

// crashChildEnv makes a test binary run as the writer process of
// RunKillDuringSaves instead of running tests. It names the directory.
const crashChildEnv = "JANGADA_STORETEST_CRASH_CHILD_DIR"

// CrashChildMain runs the writer process of RunKillDuringSaves when the
// environment asks for it, and then exits; otherwise it returns false. A
// store's TestMain calls it first:
//
//	func TestMain(m *testing.M) {
//		if storetest.CrashChildMain(openStore) {
//			return
//		}
//		os.Exit(m.Run())
//	}
//
// The writer opens the store, appends batches forever and prints
// "ack <last index> <term>" after each Save returns.
func CrashChildMain(open OpenFunc) bool {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		return false
	}
	err := runCrashChild(open, dir) // returns only on failure: the parent kills it
	fmt.Fprintln(os.Stderr, "crash child:", err)
	os.Exit(2)
	return true
}

func runCrashChild(open OpenFunc, dir string) error {
	store, err := open(dir)
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
			entries[i] = WorkloadEntry(lo+uint64(i), term)
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

// RunKillDuringSaves runs the store in a child process (the test binary
// itself, whose TestMain calls CrashChildMain), kills it with SIGKILL at a
// random point while it saves, and checks after each kill that every entry
// the child acknowledged is there and that the log is consistent. While the
// child runs, open in this process must fail with an error wrapping
// errLocked.
func RunKillDuringSaves(t *testing.T, open OpenFunc, errLocked error) {
	seed := testseed.Get(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	const kills = 12
	for kill := range kills {
		ackedLast, ackedTerm := runAndKill(t, dir, 1+rng.IntN(40), func() {
			// The running child holds the directory.
			if store, err := open(dir); !errors.Is(err, errLocked) {
				if err == nil {
					store.Close()
				}
				t.Errorf("Open while another process writes: error %v, want %v", err, errLocked)
			}
		})
		store, err := open(dir)
		if err != nil {
			t.Fatalf("seed %d: Open after kill %d: %v", seed, kill, err)
		}
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
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
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
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child printed %q; does TestMain call storetest.CrashChildMain?", lines.Text())
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
		t.Fatalf("child acknowledged nothing; does TestMain call storetest.CrashChildMain?")
	}
	return last, term
}

// checkKilledLog checks that the log reaches at least the acknowledged index
// with at least the acknowledged term there, and that every entry is the
// one its index and term name, with terms never decreasing.
func checkKilledLog(t *testing.T, store raftcore.LogStore, ackedLast, ackedTerm uint64) {
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
	entries, err := store.Entries(1, last+1, noLimit)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(entries)) != last {
		t.Fatalf("Entries(1, %d) returned %d entries", last+1, len(entries))
	}
	var prevTerm uint64
	for i, e := range entries {
		want := WorkloadEntry(uint64(i)+1, e.GetTerm())
		if e.GetIndex() != uint64(i)+1 || string(e.GetData()) != string(want.GetData()) || e.GetTerm() < prevTerm {
			t.Fatalf("entry at position %d: index %d term %d data %q (previous term %d)", i, e.GetIndex(), e.GetTerm(), e.GetData(), prevTerm)
		}
		prevTerm = e.GetTerm()
	}
	if entries[ackedLast-1].GetTerm() < ackedTerm {
		t.Fatalf("entry %d has term %d, acknowledged at term %d", ackedLast, entries[ackedLast-1].GetTerm(), ackedTerm)
	}
}
