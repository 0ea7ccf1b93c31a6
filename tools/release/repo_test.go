package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBumpThenCheck(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"go.work":     "go 1.26.0\n\nuse (\n\t./core\n\t./store\n)\n",
		"core/go.mod": "module example.com/x/core\n\ngo 1.26.0\n",
		"store/go.mod": "module example.com/x/store\n\ngo 1.26.0\n\nrequire example.com/x/core v0.0.0-00010101000000-000000000000\n\n" +
			"replace example.com/x/core => ../core\n",
	})
	r, err := LoadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Check("v0.3.0")
	if err == nil || !strings.Contains(err.Error(), "store/go.mod requires example.com/x/core v0.0.0-00010101000000-000000000000, want v0.3.0") {
		t.Fatalf("Check before bump = %v, want the stale requirement named", err)
	}
	if err := r.Bump("v0.3.0"); err != nil {
		t.Fatal(err)
	}
	if err := r.Check("v0.3.0"); err != nil {
		t.Fatalf("Check after bump: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(root, "store", "go.mod"))
	if !strings.Contains(string(data), "require example.com/x/core v0.3.0") || !strings.Contains(string(data), "replace example.com/x/core => ../core") {
		t.Errorf("bumped go.mod:\n%s", data)
	}
	if got, want := r.Tags("v0.3.0"), []string{"core/v0.3.0", "store/v0.3.0"}; !slices.Equal(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
}

func TestCheckWantsALocalReplace(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"go.work":      "go 1.26.0\n\nuse (\n\t./core\n\t./store\n)\n",
		"core/go.mod":  "module example.com/x/core\n\ngo 1.26.0\n",
		"store/go.mod": "module example.com/x/store\n\ngo 1.26.0\n\nrequire example.com/x/core v0.3.0\n",
	})
	r, err := LoadRepo(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check("v0.3.0"); err == nil || !strings.Contains(err.Error(), "must be replaced by ../core") {
		t.Fatalf("Check = %v, want the missing replace named", err)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.2.0": true, "v1.4.2": true,
		"": false, "0.2.0": false, "v0.2": false, "v2.0.0": false, "v0.2.0-rc.1": false,
		"v0.0.0-00010101000000-000000000000": false,
	} {
		if err := CheckVersion(v); (err == nil) != ok {
			t.Errorf("CheckVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}
