package bench

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// runJobEnv makes the test binary run one job from standard input instead
// of the tests: the child process of an isolated run in the tests.
const runJobEnv = "JANGADA_BENCH_RUN_JOB"

func TestMain(m *testing.M) {
	if os.Getenv(runJobEnv) == "1" {
		if err := RunJob(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
