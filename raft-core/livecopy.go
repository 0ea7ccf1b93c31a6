package raftcore

import (
	"cmp"
	"fmt"
	"io"
	"sync"
	"time"
)

// liveCopyMaxBuffer bounds the bytes a live copy holds for a reader that
// lags behind the snapshot writer (see liveCopy). The buffer starts at
// liveCopyMinBuffer and doubles as needed, so that a small state costs a
// small buffer. A variable so that tests can lower it.
var liveCopyMaxBuffer = 32 << 20

const liveCopyMinBuffer = 256 << 10

// liveCopyMaxSlowdown bounds how much a live copy's reader may slow its
// snapshot down: the writer waits for room in the buffer at most
// 1/liveCopyMaxSlowdown of the time it spent writing.
const liveCopyMaxSlowdown = 4

// liveCopy hands OpenState's reader the state machine's bytes while the
// snapshot that holds them is being written, so that the copy streams as
// soon as the snapshot starts instead of being read back (and decompressed)
// from the SnapshotStore once it is committed.
//
// The bytes go into a buffer of at most liveCopyMaxBuffer. When it is full,
// the snapshot writer (which holds applies paused) waits for the reader, so
// that a reader about as fast as the writer streams the whole copy, but
// only as long as its waits stay under a quarter of its writing time
// (liveCopyMaxSlowdown): waiting for the reader, however slow or stalled,
// makes the pause at most a quarter longer. Past that the copy detaches
// from the writer, and the reader goes on from the committed snapshot,
// opened as soon as it is committed (before any prune), skipping the bytes
// it already has. The reader sees io.EOF only once the snapshot is
// committed, and the writer's or the store's error otherwise. (The
// reader's own work, a compression for instance, also competes with the
// writer for CPU while they overlap.)
type liveCopy struct {
	// started is closed when the snapshot starts; sc is set then.
	started chan struct{}
	sc      StateCopy
	// notify wakes the reader: bytes, a detach, the end.
	notify chan struct{}
	// room wakes a writer waiting for the reader.
	room chan struct{}
	// begun is when the writer started; waited how long it waited.
	begun  time.Time
	waited time.Duration
	stopc  <-chan struct{}
	// stopped returns the error that stopped the node.
	stopped func() error

	mu       sync.Mutex
	buf      []byte // ring buffer: n bytes from head
	head, n  int
	teed     int64 // bytes put into buf, all of them before a detach
	detached bool
	closed   bool // the reader is done with the copy
	done     bool // the snapshot is committed or failed
	err      error
	// rest reads the committed snapshot's state bytes after a detach;
	// skipped tells whether the first teed bytes were skipped.
	rest    io.ReadCloser
	skipped bool
	openErr error // why rest could not be opened
}

func newLiveCopy(stopc <-chan struct{}, stopped func() error) *liveCopy {
	return &liveCopy{started: make(chan struct{}), notify: make(chan struct{}, 1), room: make(chan struct{}, 1), stopc: stopc, stopped: stopped}
}

// hasStarted reports whether the snapshot started and sc is set.
func (c *liveCopy) hasStarted() bool {
	select {
	case <-c.started:
		return true
	default:
		return false
	}
}

// start is called by the snapshot writer before the state machine's bytes:
// meta and mem describe the snapshot.
func (c *liveCopy) start(meta SnapshotMeta, mem *membership) {
	c.begun = time.Now()
	c.sc = StateCopy{Meta: meta, ReadCloser: c}
	c.sc.Members, c.sc.Learners = stateCopyMembers(mem)
	close(c.started)
}

// teeWriter passes the state machine's writes to w and to copy.
type teeWriter struct {
	w    io.Writer
	copy *liveCopy
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.copy.write(p[:n])
	return n, err
}

// write buffers p for the reader. When the buffer is full it waits for
// the reader within its budget of waiting, and detaches past it.
func (c *liveCopy) write(p []byte) {
	if len(p) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.detached && !c.closed && c.n+len(p) > len(c.buf) && !c.grow(c.n+len(p)) {
		budget := (time.Since(c.begun)-c.waited)/liveCopyMaxSlowdown - c.waited
		if len(p) > liveCopyMaxBuffer || budget <= 0 {
			c.detached = true
			c.wake()
			return
		}
		c.mu.Unlock()
		start := time.Now()
		timer := time.NewTimer(budget)
		select {
		case <-c.room:
		case <-timer.C:
		case <-c.stopc:
		}
		timer.Stop()
		c.mu.Lock()
		c.waited += time.Since(start)
		select {
		case <-c.stopc:
			c.detached = true
		default:
		}
	}
	if c.detached || c.closed {
		return
	}
	tail := (c.head + c.n) % len(c.buf)
	k := copy(c.buf[tail:], p)
	copy(c.buf, p[k:])
	c.n += len(p)
	c.teed += int64(len(p))
	c.wake()
}

// grow makes room for need buffered bytes, if the bound allows.
func (c *liveCopy) grow(need int) bool {
	if need > liveCopyMaxBuffer {
		return false
	}
	size := max(len(c.buf), liveCopyMinBuffer)
	for size < need {
		size *= 2
	}
	size = min(size, liveCopyMaxBuffer)
	buf := make([]byte, size)
	k := copy(buf, c.buf[c.head:min(c.head+c.n, len(c.buf))])
	copy(buf[k:], c.buf[:c.n-k])
	c.buf, c.head = buf, 0
	return true
}

// committed is called once the snapshot is committed, before it can be
// pruned: a detached copy opens it then to read the rest from it. A failure
// to open it fails the copy, not the snapshot.
func (c *liveCopy) committed(open func() (StateCopy, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.detached || c.closed {
		return
	}
	sc, err := open()
	if err != nil {
		c.openErr = err
		return
	}
	c.rest = sc.ReadCloser
}

// finish ends the copy: err is the snapshot's outcome.
func (c *liveCopy) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done, c.err = true, err
	if c.err == nil && c.detached && c.rest == nil && !c.closed {
		c.err = fmt.Errorf("raftcore: state copy: reopen the committed snapshot: %w", cmp.Or(c.openErr, ErrSnapshotNotFound))
	}
	if c.closed && c.rest != nil {
		c.rest.Close()
		c.rest = nil
	}
	c.wake()
}

func (c *liveCopy) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Read implements io.Reader for the StateCopy.
func (c *liveCopy) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, fmt.Errorf("raftcore: read of a closed state copy")
		}
		if c.n > 0 {
			k := copy(p, c.buf[c.head:min(c.head+c.n, len(c.buf))])
			k += copy(p[k:], c.buf[:min(c.n-k, len(p)-k)])
			c.head = (c.head + k) % len(c.buf)
			c.n -= k
			c.mu.Unlock()
			select {
			case c.room <- struct{}{}:
			default:
			}
			return k, nil
		}
		if c.detached {
			c.buf = nil // drained: the rest comes from the snapshot
		}
		if c.done {
			if c.err != nil || c.rest == nil {
				err := c.err
				c.mu.Unlock()
				if err == nil {
					err = io.EOF
				}
				return 0, err
			}
			rest, skip := c.rest, !c.skipped
			c.skipped = true
			c.mu.Unlock()
			if skip {
				if _, err := io.CopyN(io.Discard, rest, c.teed); err != nil {
					err = fmt.Errorf("raftcore: state copy: skip to byte %d of the snapshot: %w", c.teed, err)
					c.mu.Lock()
					c.err = err
					c.mu.Unlock()
					return 0, err
				}
			}
			return rest.Read(p)
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.stopc:
			return 0, c.stopped()
		}
	}
}

// Close implements io.Closer for the StateCopy: the writer stops copying.
func (c *liveCopy) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed, c.buf, c.n = true, nil, 0
	select {
	case c.room <- struct{}{}:
	default:
	}
	if c.rest != nil {
		c.rest.Close()
		c.rest = nil
	}
	return nil
}
