package observe

import (
	"context"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/raftwire"
)

// Values of raft_transport_errors_total's kind label.
const (
	// TransportUnreachable: the transport dropped messages to the peer
	// (queue full, link down) and reported it unreachable.
	TransportUnreachable = "unreachable"
	// TransportSnapshot: streaming a snapshot to the peer failed.
	TransportSnapshot = "snapshot"
)

// InstrumentTransport wraps t so that what it carries is counted in this
// Observer's raft_transport_sent_bytes_total (the encoded size of each
// message, plus snapshot bodies) and raft_transport_errors_total. It works
// with any Transport; one that also implements raftcore.StreamTransport
// keeps doing so, its streams passed through uncounted.
//
//	cfg.Transport = obs.InstrumentTransport(quicTransport)
func (o *Observer) InstrumentTransport(t raftcore.Transport) raftcore.Transport {
	it := &instrumentedTransport{Transport: t, m: o.m, sent: map[uint64]prometheus.Counter{}}
	if st, ok := t.(raftcore.StreamTransport); ok {
		return &instrumentedStreamTransport{instrumentedTransport: it, streams: st}
	}
	return it
}

type instrumentedTransport struct {
	raftcore.Transport
	m *metrics

	mu   sync.RWMutex
	sent map[uint64]prometheus.Counter // resolved per peer, off the label lookup path
}

type instrumentedStreamTransport struct {
	*instrumentedTransport
	streams raftcore.StreamTransport
}

var (
	_ raftcore.Transport       = (*instrumentedTransport)(nil)
	_ raftcore.StreamTransport = (*instrumentedStreamTransport)(nil)
)

// Start implements raftcore.Transport, counting the peers reported
// unreachable.
func (t *instrumentedTransport) Start(h raftcore.Handler) error {
	return t.Transport.Start(countingHandler{Handler: h, m: t.m})
}

// Send implements raftcore.Transport.
func (t *instrumentedTransport) Send(msgs []*raftpb.Message) {
	t.Transport.Send(msgs)
	// The engine batches messages by destination, so runs of one peer are
	// summed before touching its counter.
	var to uint64
	var size int
	for _, m := range msgs {
		if m.GetTo() != to {
			t.addSent(to, size)
			to, size = m.GetTo(), 0
		}
		size += raftwire.SizeMessage(m)
	}
	t.addSent(to, size)
}

// SendSnapshot implements raftcore.Transport.
func (t *instrumentedTransport) SendSnapshot(ctx context.Context, msg *raftpb.Message, body io.Reader) error {
	cr := &countingReader{r: body}
	err := t.Transport.SendSnapshot(ctx, msg, cr)
	t.addSent(msg.GetTo(), raftwire.SizeMessage(msg)+int(cr.n))
	if err != nil {
		t.m.transportErrors.WithLabelValues(peerLabel(msg.GetTo()), TransportSnapshot).Inc()
	}
	return err
}

// AddPeer implements raftcore.Transport and starts the peer's series at
// zero, so a peer that never failed still shows raft_transport_errors_total.
func (t *instrumentedTransport) AddPeer(p raftcore.Peer) error {
	if err := t.Transport.AddPeer(p); err != nil {
		return err
	}
	label := peerLabel(p.ID)
	t.m.sentBytes.WithLabelValues(label)
	t.m.transportErrors.WithLabelValues(label, TransportUnreachable)
	t.m.transportErrors.WithLabelValues(label, TransportSnapshot)
	return nil
}

// RemovePeer implements raftcore.Transport and drops the peer's series:
// raft ids are never reused, so they would only linger.
func (t *instrumentedTransport) RemovePeer(id uint64) {
	t.Transport.RemovePeer(id)
	t.mu.Lock()
	delete(t.sent, id)
	t.mu.Unlock()
	label := prometheus.Labels{"peer": peerLabel(id)}
	t.m.sentBytes.DeletePartialMatch(label)
	t.m.transportErrors.DeletePartialMatch(label)
}

func (t *instrumentedTransport) addSent(to uint64, size int) {
	if size == 0 {
		return
	}
	t.mu.RLock()
	c, ok := t.sent[to]
	t.mu.RUnlock()
	if !ok {
		c = t.m.sentBytes.WithLabelValues(peerLabel(to))
		t.mu.Lock()
		t.sent[to] = c
		t.mu.Unlock()
	}
	c.Add(float64(size))
}

// HandleStream implements raftcore.StreamTransport.
func (t *instrumentedStreamTransport) HandleStream(proto string, fn raftcore.StreamHandler) error {
	return t.streams.HandleStream(proto, fn)
}

// OpenStream implements raftcore.StreamTransport.
func (t *instrumentedStreamTransport) OpenStream(ctx context.Context, to raftcore.Peer, proto string) (raftcore.Stream, error) {
	return t.streams.OpenStream(ctx, to, proto)
}

type countingHandler struct {
	raftcore.Handler
	m *metrics
}

func (h countingHandler) ReportUnreachable(id uint64) {
	h.m.transportErrors.WithLabelValues(peerLabel(id), TransportUnreachable).Inc()
	h.Handler.ReportUnreachable(id)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
