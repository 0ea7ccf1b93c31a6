package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateCarriesItsFormatAndANewerOneIsRefused(t *testing.T) {
	l := &Local{cfg: &Config{ClusterName: "demo"}, stateDir: t.TempDir()}
	if err := l.saveState(&state{Cluster: "demo", Members: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.statePath())
	if err != nil || !strings.Contains(string(data), `"format": 1`) {
		t.Fatalf("state.json %q (%v): want format 1", data, err)
	}
	// A file from before the field reads as format 1.
	if err := os.WriteFile(l.statePath(), []byte(`{"cluster": "demo", "members": [1]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := l.loadState(); err != nil || len(s.Members) != 1 {
		t.Fatalf("state without a format: %+v, %v", s, err)
	}
	if err := os.WriteFile(filepath.Join(l.stateDir, "state.json"), []byte(`{"format": 2, "cluster": "demo"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.loadState(); err == nil || !strings.Contains(err.Error(), "format 2, written by a newer jangadactl") {
		t.Fatalf("state of format 2: %v, want it refused", err)
	}
}
