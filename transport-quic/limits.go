package transportquic

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// inboundConn is an admitted inbound connection.
type inboundConn struct {
	remote remoteIdentity
	seq    uint64 // admission order, to find the oldest of a remote
	limits *remoteLimits
}

// remoteLimits is shared by the inbound connections of one remote identity.
type remoteLimits struct {
	conns  int
	frames *byteBudget
}

// admitLocked registers conn for remote, enforcing the connection limits:
// beyond MaxNonMemberConnections a non-member's connection is refused; beyond
// MaxConnectionsPerPeer the oldest connection of the same identity is closed.
// The caller holds t.mu.
func (t *Transport) admitLocked(conn *quic.Conn, remote remoteIdentity) (*inboundConn, error) {
	if remote.ID == 0 && t.nonMemberConns >= t.cfg.MaxNonMemberConnections {
		return nil, fmt.Errorf("%w: %d connections from non-members already open", ErrTooManyConnections, t.nonMemberConns)
	}
	k := string(remote.Key)
	lim := t.inboundByKey[k]
	if lim == nil {
		lim = &remoteLimits{frames: newByteBudget(int64(t.cfg.MaxFrameBytesPerPeer), &t.frameGauge)}
		t.inboundByKey[k] = lim
	}
	for lim.conns >= t.cfg.MaxConnectionsPerPeer {
		var oldest *quic.Conn
		var oldestSeq uint64
		for c, in := range t.inbound {
			if in.limits == lim && (oldest == nil || in.seq < oldestSeq) {
				oldest, oldestSeq = c, in.seq
			}
		}
		if oldest == nil {
			break
		}
		t.releaseLocked(oldest)
		t.stats.limitsHit.Add(1)
		_ = oldest.CloseWithError(codeTooMany, "too many connections from this identity")
	}
	t.inboundSeq++
	in := &inboundConn{remote: remote, seq: t.inboundSeq, limits: lim}
	t.inbound[conn] = in
	lim.conns++
	if remote.ID == 0 {
		t.nonMemberConns++
	}
	return in, nil
}

// releaseLocked forgets an admitted inbound connection; it is a no-op for a
// connection already released. The caller holds t.mu.
func (t *Transport) releaseLocked(conn *quic.Conn) {
	in := t.inbound[conn]
	if in == nil {
		return
	}
	delete(t.inbound, conn)
	if in.remote.ID == 0 {
		t.nonMemberConns--
	}
	if in.limits.conns--; in.limits.conns == 0 {
		delete(t.inboundByKey, string(in.remote.Key))
	}
}

// byteBudget is a counting semaphore over bytes: the frame memory one remote
// may hold.
type byteBudget struct {
	mu    sync.Mutex
	avail int64
	wake  chan struct{} // closed and replaced on every release
	gauge *frameGauge
}

func newByteBudget(n int64, gauge *frameGauge) *byteBudget {
	return &byteBudget{avail: n, wake: make(chan struct{}), gauge: gauge}
}

// acquire takes n bytes, waiting for releases until ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.avail >= n {
			b.avail -= n
			b.mu.Unlock()
			b.gauge.add(n)
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.gauge.add(-n)
	b.mu.Lock()
	b.avail += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// frameGauge tracks the frame memory held across all remotes, and its peak,
// for tests and Stats.
type frameGauge struct {
	cur, peak atomic.Int64
}

func (g *frameGauge) add(n int64) {
	v := g.cur.Add(n)
	for {
		p := g.peak.Load()
		if v <= p || g.peak.CompareAndSwap(p, v) {
			return
		}
	}
}
