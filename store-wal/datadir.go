package storewal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// The data directory holds a format marker next to the segments, so that a
// directory of another store or of an incompatible version is refused with a
// clear error instead of being opened or overwritten.
const (
	markerFile = "JANGADA_FORMAT"
	lockFile   = "JANGADA_LOCK"
	// formatMarker names this package and the version of its record layout.
	formatMarker = "jangada storewal v1\n"
)

// lockDir creates dir if needed and takes an exclusive lock on its lock
// file; a second LogStore on the directory, in any process, is refused.
func lockDir(fs fileSystem, dir string) (io.Closer, error) {
	if err := makeDir(fs, dir); err != nil {
		return nil, fmt.Errorf("storewal: creating %s: %w", dir, err)
	}
	lock, err := fs.Lock(filepath.Join(dir, lockFile))
	switch {
	case errors.Is(err, errLockHeld):
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	case err != nil:
		return nil, fmt.Errorf("storewal: opening lock file: %w", err)
	}
	return lock, nil
}

// makeDir creates dir and its missing parents durably: each new
// directory's name is synced into its parent, or a power loss could take
// the directory away with every Save acknowledged in it.
func makeDir(fs fileSystem, dir string) error {
	err := fs.Mkdir(dir, 0o755)
	if errors.Is(err, os.ErrNotExist) {
		if parent := filepath.Dir(dir); parent != dir {
			if err := makeDir(fs, parent); err != nil {
				return err
			}
			err = fs.Mkdir(dir, 0o755)
		}
	}
	switch {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return err
	}
	return fs.SyncDir(filepath.Dir(dir))
}

// checkMarker checks the format marker, writing it into a directory that
// holds nothing else.
func checkMarker(fs fileSystem, dir string) error {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storewal: listing %s: %w", dir, err)
	}
	var others []string
	for _, name := range names {
		if name != lockFile && name != markerFile && name != markerFile+".tmp" {
			others = append(others, name)
		}
	}
	marker, err := readSmallFile(fs, filepath.Join(dir, markerFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(others) > 0 {
			return fmt.Errorf("%w: %s holds %d files but no %s marker; it is not a storewal directory",
				ErrIncompatibleFormat, dir, len(others), markerFile)
		}
		return writeMarker(fs, dir)
	case err != nil:
		return fmt.Errorf("storewal: reading %s: %w", markerFile, err)
	case !bytes.Equal(marker, []byte(formatMarker)):
		return fmt.Errorf("%w: %s was written as %q, this is %q",
			ErrIncompatibleFormat, dir, bytes.TrimSpace(marker), bytes.TrimSpace([]byte(formatMarker)))
	}
	for _, name := range others {
		if _, ok := parseSegmentName(name); !ok && !isSpareName(name) {
			return fmt.Errorf("%w: %s holds %s, which is not a segment", ErrIncompatibleFormat, dir, name)
		}
	}
	return nil
}

// readSmallFile reads up to 4 KiB of file name.
func readSmallFile(fs fileSystem, name string) ([]byte, error) {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, 4096)
}

// readAll reads f, or its first limit bytes.
func readAll(f file, limit int64) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, min(size, limit))
	n, err := f.ReadAt(buf, 0)
	if err == io.EOF && n == len(buf) {
		err = nil
	}
	return buf[:n], err
}

// writeMarker writes the marker durably: a temporary file, synced, renamed
// and the directory synced.
func writeMarker(fs fileSystem, dir string) error {
	tmp := filepath.Join(dir, markerFile+".tmp")
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.WriteAt([]byte(formatMarker), 0)
		if err == nil {
			err = f.Sync()
		}
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
	}
	if err == nil {
		err = fs.Rename(tmp, filepath.Join(dir, markerFile))
	}
	if err == nil {
		err = fs.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("storewal: writing format marker: %w", err)
	}
	return nil
}

// listSegments returns the sequence numbers of dir's segments, oldest
// first, and the names of its spare segments.
func listSegments(fs fileSystem, dir string) (seqs []uint64, spares []string, err error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("storewal: listing %s: %w", dir, err)
	}
	for _, name := range names {
		if seq, ok := parseSegmentName(name); ok {
			seqs = append(seqs, seq)
		} else if isSpareName(name) {
			spares = append(spares, name)
		}
	}
	slices.Sort(seqs)
	return seqs, spares, nil
}
