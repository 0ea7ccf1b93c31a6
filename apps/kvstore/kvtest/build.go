package kvtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RaceBinariesEnv, set to 1, builds the binaries the tests run with the
// race detector (CI sets it); a Cluster then fails its test when a node's
// log reports a data race.
const RaceBinariesEnv = "JANGADA_RACE_BINARIES"

// RepoRoot returns the repository root: the nearest directory above the
// working directory that holds go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kvtest: no go.work above the working directory")
		}
		dir = parent
	}
}

// Build runs go build of pkg (relative to moduleDir, itself relative to the
// repository root) into out, with flags (e.g. -ldflags) before the output,
// and -race when RaceBinariesEnv is 1. The compiler's output goes to stderr.
func Build(out, moduleDir, pkg string, flags ...string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	args := []string{"build"}
	if os.Getenv(RaceBinariesEnv) == "1" {
		args = append(args, "-race")
	}
	args = append(append(args, flags...), "-o", out, pkg)
	build := exec.Command("go", args...)
	build.Dir = filepath.Join(root, moduleDir)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("kvtest: build %s in %s: %w", pkg, moduleDir, err)
	}
	return nil
}

// BuildKVStore builds the kvstore command into out.
func BuildKVStore(out string, flags ...string) error {
	return Build(out, filepath.Join("apps", "kvstore"), "./cmd/kvstore", flags...)
}

// BuildJangadactl builds the management CLI, from its own module, into out.
func BuildJangadactl(out string) error {
	return Build(out, filepath.Join("mgmt", "cmd", "jangadactl"), ".")
}
