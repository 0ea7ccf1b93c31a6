package app

import (
	"path/filepath"
	"slices"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

func TestPromiseFileKeepsAPromiseUntilCleared(t *testing.T) {
	f := promiseFile{path: filepath.Join(t.TempDir(), "discovery-promise")}
	if d, set, err := f.Load(); d != 0 || set != nil || err != nil {
		t.Fatalf("no file: %d, %v, %v; want nothing", d, set, err)
	}
	set := []raftcore.Peer{{ID: 1, Addr: "127.0.0.1:7001", Key: []byte{1, 2}}, {ID: 3, Addr: "127.0.0.1:7003"}}
	if err := f.Save(1, set); err != nil {
		t.Fatal(err)
	}
	d, got, err := f.Load()
	if err != nil || d != 1 || !slices.EqualFunc(got, set, func(a, b raftcore.Peer) bool {
		return a.ID == b.ID && a.Addr == b.Addr && string(a.Key) == string(b.Key)
	}) {
		t.Fatalf("loaded %d, %v, %v; want 1, %v", d, got, err, set)
	}
	if err := f.Save(0, nil); err != nil {
		t.Fatal(err)
	}
	if d, _, err := f.Load(); d != 0 || err != nil {
		t.Fatalf("after clearing: %d, %v", d, err)
	}
	if err := f.Save(0, nil); err != nil {
		t.Fatalf("clearing twice: %v", err)
	}
}
