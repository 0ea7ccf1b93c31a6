package storesnapfile

import "errors"

// ErrHeaderTooLarge is returned by SnapshotStore.Create when a snapshot's
// metadata (its ConfState, mostly) encodes to more than the 1 MiB header
// that the store's reader accepts; nothing is written then.
var ErrHeaderTooLarge = errors.New("storesnapfile: snapshot header too large")
