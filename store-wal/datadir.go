package storewal

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

// The data directory holds a format marker next to the segments, so that a
// directory of another store or of an incompatible version is refused with a
// clear error instead of being opened or overwritten.
const (
	markerFile = "JANGADA_FORMAT"
	lockFile   = "JANGADA_LOCK"
	// formatMarker names this package and the version of its record layout.
	formatMarker = "jangada storewal v1\n"
)

// lockDir creates dir if needed and takes an exclusive flock on its lock
// file; a second LogStore on the directory, in any process, is refused.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storewal: creating %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storewal: opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrLocked, dir, err)
	}
	return f, nil
}

// checkMarker checks the format marker, writing it into a directory that
// holds nothing else.
func checkMarker(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storewal: listing %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		if name := e.Name(); name != lockFile && name != markerFile && name != markerFile+".tmp" {
			others = append(others, name)
		}
	}
	marker, err := readSmallFile(filepath.Join(dir, markerFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(others) > 0 {
			return fmt.Errorf("%w: %s holds %d files but no %s marker; it is not a storewal directory",
				ErrIncompatibleFormat, dir, len(others), markerFile)
		}
		return writeMarker(dir)
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

func readSmallFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// writeMarker writes the marker durably: a temporary file, synced, renamed
// and the directory synced.
func writeMarker(dir string) error {
	tmp := filepath.Join(dir, markerFile+".tmp")
	err := os.WriteFile(tmp, []byte(formatMarker), 0o644)
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, markerFile))
	}
	if err == nil {
		err = syncFile(dir)
	}
	if err != nil {
		return fmt.Errorf("storewal: writing format marker: %w", err)
	}
	return nil
}

// syncFile fsyncs the file or directory at name.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// listSegments returns the sequence numbers of dir's segments, oldest
// first, and the names of its spare segments.
func listSegments(dir string) (seqs []uint64, spares []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("storewal: listing %s: %w", dir, err)
	}
	for _, e := range entries {
		if seq, ok := parseSegmentName(e.Name()); ok {
			seqs = append(seqs, seq)
		} else if isSpareName(e.Name()) {
			spares = append(spares, e.Name())
		}
	}
	slices.Sort(seqs)
	return seqs, spares, nil
}
