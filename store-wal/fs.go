package storewal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileSystem is what the store does to its data directory. Open uses the
// operating system's (osFS); the crash tests substitute one that simulates
// power loss, so the seam stays unexported.
type fileSystem interface {
	// OpenFile opens name with os.OpenFile's flags (O_RDONLY, O_RDWR,
	// O_WRONLY, O_CREATE, O_TRUNC) and permissions.
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	// Mkdir creates directory name; its parent must exist. It returns an
	// error wrapping os.ErrExist if name exists.
	Mkdir(name string, perm os.FileMode) error
	Rename(oldname, newname string) error
	Remove(name string) error
	// ReadDir returns the names in directory name.
	ReadDir(name string) ([]string, error)
	// SyncDir makes directory name's entries durable: files created,
	// renamed and removed in it.
	SyncDir(name string) error
	// Lock takes an exclusive lock on file name, creating it if needed,
	// until the returned Closer is closed. If the lock is held it fails at
	// once with an error wrapping errLockHeld.
	Lock(name string) (io.Closer, error)
}

var errLockHeld = errors.New("lock held")

// file is an open file of a fileSystem.
type file interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Size returns the file's size.
	Size() (int64, error)
	// Sync makes the file's data and metadata durable (fsync).
	Sync() error
	// SyncData makes the file's data durable, and its size if it changed
	// (fdatasync).
	SyncData() error
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, err
}

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// Lock takes an flock on name. Locks belong to the open file, so a second
// Lock in the same process is refused as well as one in another process;
// the kernel releases the lock when the process dies.
func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", errLockHeld, err)
	}
	return f, nil
}

// osFile is an *os.File. A struct of one pointer, it converts to the file
// interface without allocating, and Save's WriteAt and SyncData cost one
// indirect call each next to their system calls.
type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

func (f osFile) SyncData() error { return syncData(f.File) }
