package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/raft-core/clustertest"
	"github.com/jangada-io/jangada/raft-core/testseed"
)

// releaseTagPattern names the tags an upgrade starts from.
const releaseTagPattern = "apps/kvstore/v*"

// gitOutput runs git in the repository and returns its trimmed output.
func gitOutput(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// newestReleaseTag returns the newest apps/kvstore/v* tag (by version), or
// why there is none to upgrade from.
func newestReleaseTag() (tag, why string) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", "git is not installed, so no release tag can be built"
	}
	if inside, err := gitOutput("rev-parse", "--is-inside-work-tree"); err != nil || inside != "true" {
		return "", "the source is not a git checkout (a source tarball?), so it has no release tags to build"
	}
	// versionsort.suffix puts v1.2.0-rc1 before v1.2.0, as semver does.
	tags, err := gitOutput("-c", "versionsort.suffix=-", "tag", "--list", releaseTagPattern, "--sort=-v:refname")
	if err != nil {
		return "", err.Error()
	}
	if tags == "" {
		if shallow, _ := gitOutput("rev-parse", "--is-shallow-repository"); shallow == "true" {
			return "", "this is a shallow clone without " + releaseTagPattern + " tags (git fetch --unshallow --tags brings them)"
		}
		return "", "the repository has no " + releaseTagPattern + " tag yet (go run ./tools/release tags names the tags a release makes)"
	}
	return strings.Fields(tags)[0], ""
}

// buildRelease extracts the tree of tag into dir (git archive) and builds
// its kvstore there with the tree's own go.work, its version string set
// to the tag's version. -trimpath keeps the build cache's entries
// independent of the temporary directory, so that later runs reuse them.
func buildRelease(t *testing.T, tag, dir string) string {
	t.Helper()
	cmd := exec.Command("git", "archive", "--format=tar", tag)
	cmd.Dir = filepath.Join("..", "..")
	var archive, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &archive, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git archive %s: %v: %s", tag, err, stderr.String())
	}
	src := filepath.Join(dir, "src")
	if err := extractTar(&archive, src); err != nil {
		t.Fatalf("extract %s: %v", tag, err)
	}
	version := path.Base(tag)
	bin := filepath.Join(dir, "kvstore-"+version)
	build := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", versionFlag(version), "./cmd/kvstore")
	build.Dir = filepath.Join(src, "apps", "kvstore")
	build.Env = append(os.Environ(), "GOWORK="+filepath.Join(src, "go.work"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kvstore at %s: %v\n%s", tag, err, out)
	}
	return bin
}

// extractTar writes the regular files and directories of a tar stream
// under dir, refusing names that would leave it.
func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q leaves the directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// lastAcknowledged returns, per key, the value of its last acknowledged
// put (each key has one writer, which waits for each put, so that is the
// key's value once the load stopped with no failed operation).
func (l *load) lastAcknowledged() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]string{}
	at := map[string]int64{}
	for _, op := range l.ops {
		in := op.Input.(kvtest.Input)
		if in.Put && op.Return != math.MaxInt64 && op.Call >= at[in.Key] {
			last[in.Key], at[in.Key] = in.Value, op.Call
		}
	}
	return last
}

// wantValues reads every key linearizably (from any endpoint) and fails
// unless each holds its value.
func wantValues(t *testing.T, endpoints []string, want map[string]string) {
	t.Helper()
	l := &load{endpoints: endpoints, http: &http.Client{}, deadline: 10 * time.Second}
	defer l.http.CloseIdleConnections()
	endpoint := 0
	for key, value := range want {
		var out kvtest.Output
		err := l.retry(&endpoint, func(ctx context.Context, ep string) (err error) {
			out, err = l.get(ctx, ep, key)
			return err
		})
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		if !out.Found || out.Value != value {
			t.Fatalf("key %s reads %+v, want the acknowledged %q", key, out, value)
		}
	}
	t.Logf("all %d keys read back with their acknowledged values", len(want))
}

// TestUpgradeFromTheNewestReleaseTag is the upgrade test (etcd's are the
// model): kvstore built from the newest apps/kvstore/v* tag runs a
// cluster, which is rolled to the working tree's build (1) under a load of
// about 300 writes/s, with no failed client operation, a linearizable
// history and every acknowledged write readable after it, and (2) offline:
// a cluster written by the release and stopped is started on the working
// tree's build, whose nodes then have nothing but the release's data
// directories, and every acknowledged write is read back. A change that
// cannot read the release's data or talk to its nodes fails here.
func TestUpgradeFromTheNewestReleaseTag(t *testing.T) {
	tag, why := newestReleaseTag()
	if tag == "" {
		t.Skip("no upgrade from a release: " + why)
	}
	began := time.Now()
	binOld := buildRelease(t, tag, t.TempDir())
	oldVersion := path.Base(tag)
	t.Logf("STEP built kvstore %s from tag %s in %v", oldVersion, tag, time.Since(began).Round(time.Millisecond))
	seed := testseed.Get(t)
	t.Logf("seed %d", seed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("rolling", func(t *testing.T) {
		tc := newTestCluster(t, binOld, 3, 3)
		if err := tc.local.Up(ctx); err != nil {
			t.Fatal(err)
		}
		tc.wantVersions(t, oldVersion, 3)
		lg := startLoad(t, tc.http, 300, 16, 3, seed)
		clustertest.WaitFor(t, "the load to get going", 30*time.Second, func() bool { return lg.acked.Load() >= 300 })
		t0 := time.Now()
		rep, err := tc.local.RollingUpdate(ctx, binV2)
		if err != nil {
			t.Fatalf("rolling update %s -> working tree: %v", oldVersion, err)
		}
		took := time.Since(t0)
		p99, n := lg.p99(t0, t0.Add(took))
		t.Logf("FIGURE rolling update %s -> v2.0.0-test took %v; client: %d writes acknowledged, p99 %v", oldVersion, took.Round(time.Millisecond), n, p99.Round(time.Millisecond))
		if len(rep.Updated) != 3 || !rep.Steps[2].Leader {
			t.Fatalf("update steps %+v: want 3 nodes, the leader last", rep.Steps)
		}
		tc.wantVersions(t, "v2.0.0-test", 3)
		after := lg.acked.Load()
		clustertest.WaitFor(t, "writes to go on on the new version", 30*time.Second, func() bool { return lg.acked.Load() >= after+300 })
		lg.stop()
		if f := lg.failures(); len(f) > 0 {
			t.Fatalf("%d client operations failed; first: %s", len(f), f[0])
		}
		lg.checkLinearizable(t)
		wantValues(t, tc.http, lg.lastAcknowledged())
	})

	t.Run("offline", func(t *testing.T) {
		tc := newTestCluster(t, binOld, 3, 3)
		if err := tc.local.Up(ctx); err != nil {
			t.Fatal(err)
		}
		lg := startLoad(t, tc.http, 300, 16, 0, seed)
		clustertest.WaitFor(t, "writes on the release", 30*time.Second, func() bool { return lg.acked.Load() >= 300 })
		lg.stop()
		if f := lg.failures(); len(f) > 0 {
			t.Fatalf("%d client operations failed; first: %s", len(f), f[0])
		}
		written := lg.lastAcknowledged()
		if err := tc.local.Down(ctx); err != nil {
			t.Fatal(err)
		}
		// Every member is down: the update starts them all on the new
		// build at once, from the release's data directories alone.
		if _, err := tc.local.RollingUpdate(ctx, binV2); err != nil {
			t.Fatalf("start the release's data directories on the working tree: %v", err)
		}
		tc.wantVersions(t, "v2.0.0-test", 3)
		wantValues(t, tc.http, written)
	})
	t.Logf("STEP upgrade test took %v", time.Since(began).Round(time.Millisecond))
}
