package transportquic

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FaultConn wraps the UDP socket of a Transport (Config.PacketConn) and
// injects network faults into real QUIC traffic: random loss and delay of
// outgoing packets, and partitions that drop all packets to and from chosen
// addresses. Randomness comes from the seed given to NewFaultConn, so a
// failing test can print it. FaultConn is safe for concurrent use.
type FaultConn struct {
	pc net.PacketConn

	dropped atomic.Uint64
	pending sync.WaitGroup

	mu      sync.Mutex
	rng     *rand.Rand
	loss    float64
	delay   time.Duration
	blocked map[string]bool
	closed  bool
	timers  map[*time.Timer]struct{}
}

// NewFaultConn wraps pc. With no faults set it passes every packet through.
func NewFaultConn(pc net.PacketConn, seed uint64) *FaultConn {
	return &FaultConn{
		pc:      pc,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		blocked: make(map[string]bool),
		timers:  make(map[*time.Timer]struct{}),
	}
}

// SetLoss makes each outgoing packet be dropped with probability rate
// (0 to 1).
func (c *FaultConn) SetLoss(rate float64) {
	c.mu.Lock()
	c.loss = rate
	c.mu.Unlock()
}

// SetDelay holds each outgoing packet back for d before sending it.
func (c *FaultConn) SetDelay(d time.Duration) {
	c.mu.Lock()
	c.delay = d
	c.mu.Unlock()
}

// Partition drops every packet to and from each of addrs until Heal.
func (c *FaultConn) Partition(addrs ...net.Addr) {
	c.mu.Lock()
	for _, a := range addrs {
		c.blocked[a.String()] = true
	}
	c.mu.Unlock()
}

// Heal ends the partition from addrs, or every partition if addrs is empty.
func (c *FaultConn) Heal(addrs ...net.Addr) {
	c.mu.Lock()
	if len(addrs) == 0 {
		clear(c.blocked)
	}
	for _, a := range addrs {
		delete(c.blocked, a.String())
	}
	c.mu.Unlock()
}

// Dropped returns the number of packets dropped so far.
func (c *FaultConn) Dropped() uint64 { return c.dropped.Load() }

// ReadFrom returns the next packet not dropped by a partition.
func (c *FaultConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.pc.ReadFrom(p)
		if err != nil || !c.isBlocked(addr) {
			return n, addr, err
		}
		c.dropped.Add(1)
	}
}

func (c *FaultConn) isBlocked(addr net.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.blocked) > 0 && c.blocked[addr.String()]
}

// WriteTo sends p to addr, or drops or delays it as configured. A dropped
// packet is reported as written, as the network would.
func (c *FaultConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.blocked[addr.String()] || (c.loss > 0 && c.rng.Float64() < c.loss) {
		c.mu.Unlock()
		c.dropped.Add(1)
		return len(p), nil
	}
	delay := c.delay
	if delay <= 0 {
		c.mu.Unlock()
		return c.pc.WriteTo(p, addr)
	}
	packet := append([]byte(nil), p...)
	c.pending.Add(1)
	var timer *time.Timer
	timer = time.AfterFunc(delay, func() {
		defer c.pending.Done()
		c.mu.Lock()
		delete(c.timers, timer)
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			_, _ = c.pc.WriteTo(packet, addr)
		}
	})
	c.timers[timer] = struct{}{}
	c.mu.Unlock()
	return len(p), nil
}

// Close drops delayed packets not yet sent and closes the wrapped socket.
func (c *FaultConn) Close() error {
	c.mu.Lock()
	c.closed = true
	for timer := range c.timers {
		if timer.Stop() {
			c.pending.Done()
		}
		delete(c.timers, timer)
	}
	c.mu.Unlock()
	c.pending.Wait()
	return c.pc.Close()
}

// LocalAddr returns the wrapped socket's address.
func (c *FaultConn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline, SetReadDeadline and SetWriteDeadline pass through.
func (c *FaultConn) SetDeadline(t time.Time) error      { return c.pc.SetDeadline(t) }
func (c *FaultConn) SetReadDeadline(t time.Time) error  { return c.pc.SetReadDeadline(t) }
func (c *FaultConn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer size the wrapped socket's buffers when it
// supports that (a *net.UDPConn does), as QUIC asks for large ones.
func (c *FaultConn) SetReadBuffer(n int) error {
	if b, ok := c.pc.(interface{ SetReadBuffer(int) error }); ok {
		return b.SetReadBuffer(n)
	}
	return nil
}

func (c *FaultConn) SetWriteBuffer(n int) error {
	if b, ok := c.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return b.SetWriteBuffer(n)
	}
	return nil
}

var _ net.PacketConn = (*FaultConn)(nil)
