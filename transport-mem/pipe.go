package transportmem

import (
	"io"
	"sync"
)

// pipe is one direction of an in-memory byte stream with a bounded buffer.
// The writer blocks while the buffer is full; the reader gets io.EOF once the
// writer closed and the buffer is drained. abort fails both ends at once and
// discards what is buffered, like a connection reset.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // unread bytes are buf[r:w]
	r, w int

	writeClosed bool  // the writer is done: EOF after the buffer
	readClosed  bool  // the reader is gone: writes fail
	err         error // set by abort
	sawEOF      bool  // the reader was given io.EOF
}

func newPipe(size int) *pipe {
	p := &pipe{buf: make([]byte, size)}
	p.cond.L = &p.mu
	return p
}

func (p *pipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.err != nil:
			return 0, p.err
		case p.readClosed:
			return 0, ErrStreamClosed
		case p.r < p.w:
			n := copy(b, p.buf[p.r:p.w])
			p.r += n
			if p.r == p.w {
				p.r, p.w = 0, 0
			}
			p.cond.Broadcast()
			return n, nil
		case p.writeClosed:
			p.sawEOF = true
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for written < len(b) {
		switch {
		case p.err != nil:
			return written, p.err
		case p.writeClosed || p.readClosed:
			return written, ErrStreamClosed
		}
		if p.w == len(p.buf) && p.r > 0 {
			p.w = copy(p.buf, p.buf[p.r:p.w])
			p.r = 0
		}
		if p.w == len(p.buf) {
			p.cond.Wait()
			continue
		}
		n := copy(p.buf[p.w:], b[written:])
		p.w += n
		written += n
		p.cond.Broadcast()
	}
	return written, nil
}

// closeWrite ends the stream after what is buffered.
func (p *pipe) closeWrite() {
	p.mu.Lock()
	p.writeClosed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// closeRead discards what is buffered and makes later writes fail.
func (p *pipe) closeRead() {
	p.mu.Lock()
	p.readClosed = true
	p.r, p.w = 0, 0
	p.cond.Broadcast()
	p.mu.Unlock()
}

// abort fails both ends with err, unless the pipe already failed.
func (p *pipe) abort(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.r, p.w = 0, 0
	p.cond.Broadcast()
	p.mu.Unlock()
}

// aborted returns the error the pipe was aborted with, or nil.
func (p *pipe) aborted() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// readToEOF reports whether the reader was given io.EOF.
func (p *pipe) readToEOF() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sawEOF
}
