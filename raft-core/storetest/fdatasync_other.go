//go:build !linux

package storetest

import "os"

// preallocate gives f size bytes, so that writes do not extend it.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// fdatasync makes f's data durable; without fdatasync, with its metadata.
func fdatasync(f *os.File) error { return f.Sync() }
