package testseed

import (
	"fmt"
	"testing"
)

// recorder stands in for a test: it records Fatalf and Logf and runs
// cleanups on demand.
type recorder struct {
	testing.TB
	fatal, logged string
	failed        bool
	cleanups      []func()
}

func (r *recorder) Helper()                         {}
func (r *recorder) Name() string                    { return "TestThing/sub" }
func (r *recorder) Failed() bool                    { return r.failed }
func (r *recorder) Cleanup(f func())                { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Logf(format string, args ...any) { r.logged = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	r.failed = true
}

func TestTheVariableFixesTheSeedAndAFailureSaysHowToReplayIt(t *testing.T) {
	t.Setenv(Env, "42")
	r := &recorder{}
	if got := Get(r); got != 42 {
		t.Fatalf("Get = %d, want 42 from %s", got, Env)
	}
	r.failed = true
	for _, f := range r.cleanups {
		f()
	}
	want := "seed 42; replay with: JANGADA_TEST_SEED=42 go test -race -count=1 -run '^TestThing$' ."
	if r.logged != want {
		t.Errorf("on failure logged %q, want %q", r.logged, want)
	}
}

func TestAPassingTestSaysNothing(t *testing.T) {
	t.Setenv(Env, "")
	r := &recorder{}
	a := Get(r)
	for _, f := range r.cleanups {
		f()
	}
	if r.logged != "" || r.fatal != "" {
		t.Errorf("a passing test logged %q / failed %q", r.logged, r.fatal)
	}
	if b := Get(&recorder{}); a == b {
		t.Errorf("two seeds from the clock are equal (%d)", a)
	}
}

func TestAMalformedVariableFailsTheTest(t *testing.T) {
	t.Setenv(Env, "soon")
	r := &recorder{}
	Get(r)
	if r.fatal == "" {
		t.Fatalf("%s=soon was accepted", Env)
	}
}
