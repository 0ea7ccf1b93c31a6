package storetest

import (
	"os"
	"syscall"
)

// preallocate gives f size bytes of disk, so that writes do not extend it.
func preallocate(f *os.File, size int64) error {
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}

// fdatasync makes f's data durable without its metadata.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
