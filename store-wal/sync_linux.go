package storewal

import (
	"os"
	"syscall"
)

// syncData makes f's written data durable, and its size only if it changed:
// segments are preallocated, so their size never does.
func syncData(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
