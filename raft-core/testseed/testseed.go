// Package testseed gives every randomized test of the repository its seed from
// one place: JANGADA_TEST_SEED when set, else the clock, printed with the
// command that replays a failure.
package testseed

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// Env names the environment variable that fixes the seed of every
// randomized test in the repository; unset, each test takes a new seed from
// the clock.
const Env = "JANGADA_TEST_SEED"

// Get returns the seed t's randomness must come from: $JANGADA_TEST_SEED
// if set, else the clock. When t fails, it logs the seed and the command
// that replays the failure with it. A malformed variable fails t.
func Get(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(Env); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a non-negative integer", Env, v)
		}
		seed = n
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d; replay with: %s", seed, ReplayCommand(t.Name(), seed))
		}
	})
	return seed
}

// ReplayCommand is the command that reruns test name with seed, from the
// package's directory.
func ReplayCommand(name string, seed uint64) string {
	return fmt.Sprintf("%s=%d go test -race -count=1 -run '^%s$' .", Env, seed, topLevel(name))
}

// topLevel is the top-level test of a subtest's name: -run matches
// subtests by their own patterns, and the seed covers the whole test.
func topLevel(name string) string {
	for i := range len(name) {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return name
}
