package transportmem

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// snapshotChunk is how much of a snapshot body is read from the sender's
// reader at a time.
const snapshotChunk = 32 << 10

// SendSnapshot streams body to msg.To through a bounded pipe read by the
// receiver's Handler.HandleSnapshot, and returns once that returned. The
// receiver gets a clone of msg and a context cancelled when the sender gives
// up or either transport closes.
//
// Errors wrap raftcore.ErrClosed, ErrUnknownPeer, ErrUnreachable,
// ErrPartitioned (also when a partition cuts the link mid-stream), ctx's
// error, ErrSnapshotRejected together with the receiver's error, or
// ErrSnapshotIncomplete when the receiver accepted without reading to the end.
func (t *Transport) SendSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) error {
	to := msg.GetTo()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, err)
	}
	if _, ok := t.enter(false); !ok {
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, raftcore.ErrClosed)
	}
	defer t.goroutines.Done()
	t.mu.RLock()
	l := t.links[to]
	t.mu.RUnlock()
	if l == nil {
		return fmt.Errorf("%w: snapshot to %d", ErrUnknownPeer, to)
	}
	peer := l.currentPeer()
	rcv := t.net.resolve(peer.Addr)
	if rcv == nil || rcv.self.ID != to {
		return fmt.Errorf("%w: snapshot to %v", ErrUnreachable, peer)
	}

	rctx, rcancel := context.WithCancel(rcv.ctx)
	defer rcancel()
	c := &snapshotConn{sender: t, receiver: rcv, pipe: newPipe(t.net.cfg.StreamBuffer), cancel: rcancel}
	if err := t.net.addConn(c); err != nil {
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, err)
	}
	defer t.net.removeConn(c)
	h, ok := rcv.enter(true)
	if !ok {
		return fmt.Errorf("%w: snapshot to %v: not started or closed", ErrUnreachable, peer)
	}
	result := make(chan error, 1)
	rmsg := proto.CloneOf(msg)
	go func() {
		defer rcv.goroutines.Done()
		err := h.HandleSnapshot(rctx, rmsg, c.pipe)
		if err == nil && !c.pipe.readToEOF() {
			err = ErrSnapshotIncomplete
		}
		c.pipe.closeRead() // unblocks the sender if the body was not read
		result <- err
	}()
	stopOnCancel := context.AfterFunc(ctx, func() { c.abort(context.Cause(ctx)) })
	defer stopOnCancel()

	readErr := copyBody(c.pipe, body)
	if readErr != nil {
		c.abort(fmt.Errorf("transportmem: reading snapshot body: %w", readErr))
	}
	var handlerErr error
	select {
	case handlerErr = <-result:
	case <-ctx.Done():
	}
	switch abortErr := c.pipe.aborted(); {
	case ctx.Err() != nil:
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, ctx.Err())
	case abortErr != nil:
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, abortErr)
	case errors.Is(handlerErr, ErrSnapshotIncomplete):
		return fmt.Errorf("transportmem: snapshot to %d: %w", to, handlerErr)
	case handlerErr != nil:
		return fmt.Errorf("%w by %d: %w", ErrSnapshotRejected, to, handlerErr)
	}
	return nil
}

// copyBody copies body into p and closes p's write side at the end of body.
// It returns body's read error; a write error means the receiver stopped
// reading, which the receiver's result explains.
func copyBody(p *pipe, body io.Reader) error {
	buf := make([]byte, snapshotChunk)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := p.Write(buf[:n]); werr != nil {
				return nil
			}
		}
		if err == io.EOF {
			p.closeWrite()
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// snapshotConn is a snapshot body in flight.
type snapshotConn struct {
	sender, receiver *Transport
	pipe             *pipe
	cancel           context.CancelFunc // the receiver's context
}

func (c *snapshotConn) ends() (a, b *Transport) { return c.sender, c.receiver }

func (c *snapshotConn) abort(err error) {
	c.pipe.abort(err)
	c.cancel()
}
