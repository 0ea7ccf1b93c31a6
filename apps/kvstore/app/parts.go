package app

import (
	"errors"
	"io"
	"slices"
	"sync"
)

// openedParts lists what the graph's constructors opened (the transport,
// the stores), so that New can close it when a later part fails to build:
// fx runs no OnStop hook for an application that never started, and the
// node that owns these parts once built never came to be. A nil
// *openedParts (a constructor called outside New) records nothing.
type openedParts struct {
	mu      sync.Mutex
	closers []io.Closer
}

func (o *openedParts) add(c io.Closer) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closers = append(o.closers, c)
}

// closeAll closes what was opened, the last first.
func (o *openedParts) closeAll() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, c := range slices.Backward(o.closers) {
		errs = append(errs, c.Close())
	}
	o.closers = nil
	return errors.Join(errs...)
}

// closerFunc is a func as an io.Closer.
type closerFunc func()

func (f closerFunc) Close() error {
	f()
	return nil
}
