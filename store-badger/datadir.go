package storebadger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// The data directory holds a format marker next to badger's files, so that a
// directory of another store or of an incompatible version is refused with a
// clear error instead of being opened or overwritten.
const (
	markerFile = "JANGADA_FORMAT"
	lockFile   = "JANGADA_LOCK"
	// formatMarker names this package and the version of its key layout.
	formatMarker = "jangada storebadger v1\n"
)

type dataDir struct {
	lock  io.Closer
	fresh bool // no data yet: badger creates a new database
}

// openDataDir creates dir if needed, locks it and checks its format marker,
// writing the marker into an empty directory.
func openDataDir(dir string) (dataDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dataDir{}, fmt.Errorf("storebadger: creating %s: %w", dir, err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return dataDir{}, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	fresh, err := checkMarker(dir)
	if err != nil {
		lock.Close()
		return dataDir{}, err
	}
	return dataDir{lock: lock, fresh: fresh}, nil
}

// lockDir takes an exclusive flock on name. Locks belong to the open file,
// so a second open in the same process is refused as well as one in
// another process; the kernel releases the lock when the process dies.
func lockDir(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkMarker(dir string) (fresh bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("storebadger: listing %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		others = append(others, e.Name())
	}
	others = slices.DeleteFunc(others, func(name string) bool {
		return name == lockFile || name == markerFile || name == markerFile+".tmp"
	})
	marker, err := os.ReadFile(filepath.Join(dir, markerFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(others) > 0 {
			return false, fmt.Errorf("%w: %s holds %d files but no %s marker; it is not a storebadger directory",
				ErrIncompatibleFormat, dir, len(others), markerFile)
		}
		return true, writeMarker(dir)
	case err != nil:
		return false, fmt.Errorf("storebadger: reading %s: %w", markerFile, err)
	case !bytes.Equal(marker, []byte(formatMarker)):
		return false, fmt.Errorf("%w: %s was written as %q, this is %q",
			ErrIncompatibleFormat, dir, bytes.TrimSpace(marker), bytes.TrimSpace([]byte(formatMarker)))
	}
	// A marker with no database next to it is a store whose creation was
	// interrupted.
	return len(others) == 0, nil
}

// writeMarker writes the marker durably: a temporary file, synced, renamed
// and the directory synced.
func writeMarker(dir string) error {
	tmp := filepath.Join(dir, markerFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("storebadger: writing format marker: %w", err)
	}
	_, err = f.Write([]byte(formatMarker))
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, markerFile))
	}
	if err == nil {
		err = syncOSDir(dir)
	}
	if err != nil {
		return fmt.Errorf("storebadger: writing format marker: %w", err)
	}
	return nil
}

// syncOSDir makes a directory's entries durable.
func syncOSDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}
