package storetest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The data directory of a durable store holds a format marker and a lock
// file next to the database's files.
const (
	markerFile = "JANGADA_FORMAT"
	lockFile   = "JANGADA_LOCK"
)

// DataDir describes a durable store's data directory for RunDataDir.
type DataDir struct {
	// Open opens the store in a directory.
	Open OpenFunc
	// Marker is what the store writes into its JANGADA_FORMAT file, such as
	// "jangada storepebble v1\n".
	Marker string
	// ErrLocked and ErrIncompatibleFormat are the store's errors for a
	// directory in use and for one holding something else.
	ErrLocked, ErrIncompatibleFormat error
	// Foreign names directories of other stores the store must refuse: each
	// maps file names to their contents.
	Foreign map[string]map[string]string
}

// RunDataDir checks how a store treats its data directory: a second Open
// of a directory in use is refused with ErrLocked and succeeds after Close;
// a directory of another format version, of another store or with
// unrelated files is refused with ErrIncompatibleFormat and left as it was;
// and a directory whose creation was interrupted after the marker was
// written opens as an empty log.
func RunDataDir(t *testing.T, d DataDir) {
	t.Run("SecondOpenIsRefused", func(t *testing.T) {
		dir := t.TempDir()
		CheckSecondOpenRefused(t, func() (raftcore.LogStore, error) { return d.Open(dir) }, d.ErrLocked)
	})
	t.Run("ForeignDirectoryIsRefused", func(t *testing.T) {
		foreign := map[string]map[string]string{
			"other format version": {markerFile: otherVersion(d.Marker)},
			"unrelated files":      {"notes.txt": "not a store"},
		}
		for name, files := range d.Foreign {
			foreign[name] = files
		}
		for _, name := range slices.Sorted(maps.Keys(foreign)) {
			files := foreign[name]
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				for file, content := range files {
					writeFile(t, filepath.Join(dir, file), content)
				}
				for range 2 { // the refused directory is not left locked
					store, err := d.Open(dir)
					if !errors.Is(err, d.ErrIncompatibleFormat) {
						if err == nil {
							store.Close()
						}
						t.Fatalf("Open: error %v, want %v", err, d.ErrIncompatibleFormat)
					}
				}
				checkFiles(t, dir, files)
			})
		}
	})
	t.Run("InterruptedCreationIsCompletedOnOpen", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, markerFile), d.Marker)
		store, err := d.Open(dir)
		if err != nil {
			t.Fatalf("Open of a directory holding only the marker: %v", err)
		}
		if last, err := store.LastIndex(); err != nil || last != 0 {
			t.Errorf("LastIndex = %d, %v; want 0", last, err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// CheckSecondOpenRefused opens a store with open, checks that opening it
// again fails with an error wrapping errLocked, closes it and checks that it
// opens again.
func CheckSecondOpenRefused(t *testing.T, open func() (raftcore.LogStore, error), errLocked error) {
	t.Helper()
	first, err := open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if second, err := open(); !errors.Is(err, errLocked) {
		if err == nil {
			second.Close()
		}
		first.Close()
		t.Fatalf("second Open: error %v, want %v", err, errLocked)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := open()
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// otherVersion returns marker, "<name> v<N>\n", with the next version.
func otherVersion(marker string) string {
	trimmed := strings.TrimSpace(marker)
	i := strings.LastIndex(trimmed, " v")
	if i < 0 {
		return trimmed + " v1-other\n"
	}
	n, err := strconv.Atoi(trimmed[i+2:])
	if err != nil {
		return trimmed + " v1-other\n"
	}
	return fmt.Sprintf("%s v%d\n", trimmed[:i], n+1)
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFiles checks that dir holds files, unchanged, and nothing else but
// the lock file.
func checkFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names, want []string
	for _, e := range entries {
		if e.Name() != lockFile {
			names = append(names, e.Name())
		}
	}
	for name, content := range files {
		want = append(want, name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != content {
			t.Errorf("%s holds %q (%v) after the refused Open, want %q", name, got, err, content)
		}
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %v after the refused Open, want %v", names, want)
	}
}
