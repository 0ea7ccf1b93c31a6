package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The command runs chunks of seeds in child processes of itself; in
	// tests, the child is this test binary.
	if os.Getenv(childEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

var summaryLine = regexp.MustCompile(`^(PASS|FAIL) seed=(\d+) ops=\d+ faults=\d+ linearizable=(true|false) trace=[0-9a-f]{16}$`)

func simulate(t *testing.T, args ...string) (code int, lines []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = run(append(args, "-out", t.TempDir()), &stdout, &stderr)
	for l := range strings.Lines(stdout.String()) {
		if l = strings.TrimSpace(l); summaryLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	if code == 2 {
		t.Logf("stderr: %s", stderr.String())
	}
	return code, lines
}

func TestSimulatePrintsOneLinePerSeed(t *testing.T) {
	code, lines := simulate(t, "-seeds", "3-5", "-duration", "1s", "-nemesis", "crash,partition")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, result lines %q", code, lines)
	}
	for i, want := range []string{"seed=3 ", "seed=4 ", "seed=5 "} {
		if !strings.Contains(lines[i], want) || !strings.HasPrefix(lines[i], "PASS") {
			t.Errorf("line %d = %q, want a PASS for %s", i, lines[i], want)
		}
	}
}

func TestSimulateSameSeedSameTrace(t *testing.T) {
	_, a := simulate(t, "-seed", "11", "-duration", "1s")
	_, b := simulate(t, "-seed", "11", "-duration", "1s", "-procs", "1")
	if len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("two runs of seed 11 printed %q and %q", a, b)
	}
}

func TestSimulateExitsNonZeroWhenASeedFails(t *testing.T) {
	code, lines := simulate(t, "-seeds", "1-3", "-duration", "1s", "-nemesis", "partition", "-bug", "stale-read")
	if code != 1 {
		t.Fatalf("exit %d, want 1; lines %q", code, lines)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "FAIL") {
		t.Fatalf("no FAIL line in %q", lines)
	}
}

func TestSimulateSpreadsSeedsOverProcesses(t *testing.T) {
	_, alone := simulate(t, "-seeds", "1-6", "-duration", "1s", "-procs", "1")
	code, spread := simulate(t, "-seeds", "1-6", "-duration", "1s", "-procs", "2")
	if code != 0 || len(spread) != 6 || strings.Join(alone, "\n") != strings.Join(spread, "\n") {
		t.Fatalf("exit %d; one process printed\n%s\ntwo printed\n%s", code, strings.Join(alone, "\n"), strings.Join(spread, "\n"))
	}
}

func TestSimulateRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nemesis", "meteor"},
		{"-bug", "typo"},
		{"-seeds", "5-1"},
		{"-nodes", "0"},
		{"-procs", "0"},
		{"-keys", "0"},
		{"-no-such-flag"},
	} {
		if code, _ := simulate(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
