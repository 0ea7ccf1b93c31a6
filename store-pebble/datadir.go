package storepebble

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The data directory holds a format marker next to pebble's files, so that a
// directory of another store or of an incompatible version is refused with a
// clear error instead of being opened or overwritten.
const (
	markerFile = "JANGADA_FORMAT"
	lockFile   = "JANGADA_LOCK"
	// formatMarker names this package and the version of its key layout.
	formatMarker = "jangada storepebble v1\n"
)

type dataDir struct {
	lock  io.Closer
	fresh bool // no data yet: pebble creates a new database
}

// openDataDir creates dir if needed, locks it and checks its format marker,
// writing the marker into an empty directory.
func openDataDir(fs vfs.FS, dir string) (dataDir, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return dataDir{}, fmt.Errorf("storepebble: creating %s: %w", dir, err)
	}
	lock, err := fs.Lock(fs.PathJoin(dir, lockFile))
	if err != nil {
		return dataDir{}, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	fresh, err := checkMarker(fs, dir)
	if err != nil {
		lock.Close()
		return dataDir{}, err
	}
	return dataDir{lock: lock, fresh: fresh}, nil
}

func checkMarker(fs vfs.FS, dir string) (fresh bool, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return false, fmt.Errorf("storepebble: listing %s: %w", dir, err)
	}
	others := slices.DeleteFunc(names, func(name string) bool { return name == lockFile || name == markerFile || name == markerFile+".tmp" })
	marker, err := readFile(fs, fs.PathJoin(dir, markerFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(others) > 0 {
			return false, fmt.Errorf("%w: %s holds %d files but no %s marker; it is not a storepebble directory",
				ErrIncompatibleFormat, dir, len(others), markerFile)
		}
		return true, writeMarker(fs, dir)
	case err != nil:
		return false, fmt.Errorf("storepebble: reading %s: %w", markerFile, err)
	case !bytes.Equal(marker, []byte(formatMarker)):
		return false, fmt.Errorf("%w: %s was written as %q, this is %q",
			ErrIncompatibleFormat, dir, bytes.TrimSpace(marker), bytes.TrimSpace([]byte(formatMarker)))
	}
	// A marker with no database next to it is a store whose creation was
	// interrupted.
	return len(others) == 0, nil
}

func readFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// writeMarker writes the marker durably: a temporary file, synced, renamed
// and the directory synced.
func writeMarker(fs vfs.FS, dir string) error {
	tmp := fs.PathJoin(dir, markerFile+".tmp")
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("storepebble: writing format marker: %w", err)
	}
	_, err = f.Write([]byte(formatMarker))
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = fs.Rename(tmp, fs.PathJoin(dir, markerFile))
	}
	if err == nil {
		err = syncDir(fs, dir)
	}
	if err != nil {
		return fmt.Errorf("storepebble: writing format marker: %w", err)
	}
	return nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}
