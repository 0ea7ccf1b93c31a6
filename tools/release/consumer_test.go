package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releasedVersion is the version the repository's modules require each
// other at: what the next tags publish.
func releasedVersion(t *testing.T, r *Repo) string {
	t.Helper()
	for _, m := range r.Modules {
		mf, err := r.modFile(m.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range mf.Require {
			if _, ok := r.sibling(req.Mod.Path); ok {
				return req.Mod.Version
			}
		}
	}
	t.Fatal("no module requires a sibling")
	return ""
}

// TestRepositoryIsConsistentlyVersioned: every sibling requirement is at
// one version, replaced by its directory for work inside the repository.
func TestRepositoryIsConsistentlyVersioned(t *testing.T) {
	r, err := LoadRepo("../..")
	if err != nil {
		t.Fatal(err)
	}
	version := releasedVersion(t, r)
	if err := CheckVersion(version); err != nil {
		t.Fatalf("the modules require each other at %s: %v", version, err)
	}
	if err := r.Check(version); err != nil {
		t.Fatal(err)
	}
}

// TestConsumerBuildsAgainstTheReleasedModules is a user outside the
// repository: it serves the modules at their release version from a local
// file GOPROXY built from this tree, and builds and runs a program importing
// raft-core, store-pebble and transport-quic with the workspace off, so
// every requirement between the modules must resolve to a published version.
func TestConsumerBuildsAgainstTheReleasedModules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program against a module proxy: not in -short")
	}
	r, err := LoadRepo("../..")
	if err != nil {
		t.Fatal(err)
	}
	version := releasedVersion(t, r)
	if err := CheckVersion(version); err != nil {
		t.Fatalf("the modules require each other at %s: %v", version, err)
	}
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	if err := r.WriteProxy(version, proxy); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(tmp, "consumer")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("testdata/consumer/main.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/consumer\n\ngo 1.26.0\n\nrequire (\n"
	for _, m := range []string{"raft-core", "store-pebble", "transport-quic"} {
		gomod += "\tgithub.com/jangada-io/jangada/" + m + " " + version + "\n"
	}
	gomod += ")\n"
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "main.go": src} {
		if err := os.WriteFile(filepath.Join(app, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Third-party modules come from the local module cache's download
	// directory (itself a GOPROXY) or the configured proxy; jangada's only
	// from the release proxy. A module cache of the test's own keeps these
	// versions out of the user's; jangada's modules are removed from it
	// first, so they always come from this tree. (It lives at a fixed path
	// so that the build cache serves the third-party packages.)
	cache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	upstream := strings.TrimSpace(goEnv(t, "GOPROXY"))
	private := filepath.Join(strings.TrimSpace(goEnv(t, "GOCACHE")), "jangada-release-consumer")
	for _, dir := range []string{filepath.Join(private, "github.com", "jangada-io"), filepath.Join(private, "cache", "download", "github.com", "jangada-io")} {
		if err := removeReadOnly(dir); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(),
		"GOWORK=off", "GOFLAGS=-mod=mod", "GOSUMDB=off",
		"GOMODCACHE="+private,
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(cache, "cache", "download")+","+upstream,
	)
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = app, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	run("go", "mod", "tidy")
	run("go", "build", "-o", filepath.Join(tmp, "consumer-bin"), ".")
	out := run(filepath.Join(tmp, "consumer-bin"), filepath.Join(tmp, "data"))
	if !strings.Contains(out, "total 42") {
		t.Fatalf("consumer printed %q, want total 42", out)
	}
	list := run("go", "list", "-m", "all")
	for _, m := range []string{"raft-core", "store-pebble", "transport-quic", "codec", "store-snapfile"} {
		if want := "github.com/jangada-io/jangada/" + m + " " + version; !strings.Contains(list, want+"\n") {
			t.Errorf("consumer's build list lacks %s:\n%s", want, list)
		}
	}
}

// removeReadOnly removes dir like os.RemoveAll, also where the module cache
// made it read-only.
func removeReadOnly(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.RemoveAll(dir)
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return string(out)
}
