//go:build unix && !linux

package storewal

import "os"

// syncData makes f's written data durable; without fdatasync, with fsync.
func syncData(f *os.File) error { return f.Sync() }
