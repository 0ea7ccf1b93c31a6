package raftcore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Proposer is what a SessionClient sends commands through: a Node, or a
// client of a node in another process.
type Proposer[C, R any] interface {
	Propose(ctx context.Context, cmd C) (R, error)
}

// SessionClientConfig configures a SessionClient.
type SessionClientConfig[C, R any] struct {
	// Proposers are tried in turn: an attempt that fails or times out is
	// sent again, as the same session command, through the next one.
	Proposers []Proposer[SessionCommand[C], SessionResult[R]]
	// AttemptTimeout bounds one attempt. The default is 5 seconds.
	AttemptTimeout time.Duration
	// Now stamps commands with the log time (SessionCommand.Time). The
	// default is time.Now.
	Now func() time.Time
}

// SessionClient sends commands in one registered session and retries them
// until they have a result: each command applies at most once (see
// Sessions), so a retry after an unknown outcome is safe. It is safe for
// concurrent use.
type SessionClient[C, R any] struct {
	cfg SessionClientConfig[C, R]
	id  uint64

	mu          sync.Mutex
	next        int                 // the proposer to try first
	seq         uint64              // the last sequence number handed out
	outstanding map[uint64]struct{} // sequence numbers without a result yet
}

// NewSessionClient registers a session (retrying until ctx is done) and
// returns its client.
func NewSessionClient[C, R any](ctx context.Context, cfg SessionClientConfig[C, R]) (*SessionClient[C, R], error) {
	if len(cfg.Proposers) == 0 {
		return nil, errors.New("raftcore: a session client needs at least one proposer")
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &SessionClient[C, R]{cfg: cfg, outstanding: map[uint64]struct{}{}}
	// A registration retried after an unknown outcome may open a second
	// session; the one not used expires.
	res, err := c.send(ctx, func() SessionCommand[C] { return SessionCommand[C]{Op: SessionRegister, Time: c.now()} })
	if err != nil {
		return nil, fmt.Errorf("raftcore: register session: %w", err)
	}
	c.id = res.Session
	return c, nil
}

// ID returns the session's id.
func (c *SessionClient[C, R]) ID() uint64 { return c.id }

// Do applies cmd once and returns its result, retrying until it has one or
// ctx is done. It returns an error wrapping ErrSessionUnknown if the session
// expired (cmd did not apply in that attempt; an earlier attempt may have),
// or ctx's error if no attempt answered: the outcome is then unknown.
func (c *SessionClient[C, R]) Do(ctx context.Context, cmd C) (R, error) {
	c.mu.Lock()
	c.seq++
	seq := c.seq
	c.outstanding[seq] = struct{}{}
	c.mu.Unlock()
	res, err := c.send(ctx, func() SessionCommand[C] {
		return SessionCommand[C]{Op: SessionCall, Session: c.id, Seq: seq, Acked: c.acked(), Time: c.now(), Cmd: cmd}
	})
	if err == nil && res.Err == nil {
		c.mu.Lock()
		delete(c.outstanding, seq)
		c.mu.Unlock()
	}
	if err != nil {
		var zero R
		return zero, err
	}
	return res.Value, res.Err
}

// Close unregisters the session. Commands of it in flight fail.
func (c *SessionClient[C, R]) Close(ctx context.Context) error {
	res, err := c.send(ctx, func() SessionCommand[C] {
		return SessionCommand[C]{Op: SessionUnregister, Session: c.id, Time: c.now()}
	})
	if err != nil {
		return err
	}
	return res.Err
}

// acked is the highest sequence number below which every result arrived.
func (c *SessionClient[C, R]) acked() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	low := c.seq
	for seq := range c.outstanding {
		low = min(low, seq-1)
	}
	return low
}

func (c *SessionClient[C, R]) now() int64 { return c.cfg.Now().UnixNano() }

// send proposes build's command through the proposers in turn until one
// answers or ctx is done.
func (c *SessionClient[C, R]) send(ctx context.Context, build func() SessionCommand[C]) (SessionResult[R], error) {
	for {
		c.mu.Lock()
		p := c.cfg.Proposers[c.next%len(c.cfg.Proposers)]
		c.mu.Unlock()
		actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		res, err := p.Propose(actx, build())
		cancel()
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("raftcore: session command outcome unknown: %w (last attempt: %v)", ctx.Err(), err)
		}
		c.mu.Lock()
		c.next++
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(retryPause):
		}
	}
}

// retryPause separates attempts, so that a cluster without a leader is not
// flooded while it elects one.
const retryPause = 50 * time.Millisecond
