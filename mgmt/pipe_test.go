package mgmt_test

import (
	"context"
	"errors"
	"io"
	"sync"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
)

// pipeNetwork connects pipeTransports in one process. It carries streams
// only: enough for a single-node raft cluster and its management server.
type pipeNetwork struct {
	mu       sync.Mutex
	handlers map[string]map[string]raftcore.StreamHandler // addr → proto → handler
	peers    map[string]raftcore.Peer
	running  sync.WaitGroup
}

func newPipeNetwork() *pipeNetwork {
	return &pipeNetwork{handlers: map[string]map[string]raftcore.StreamHandler{}, peers: map[string]raftcore.Peer{}}
}

func (n *pipeNetwork) transport(self raftcore.Peer) *pipeTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.handlers[self.Addr] = map[string]raftcore.StreamHandler{}
	n.peers[self.Addr] = self
	return &pipeTransport{net: n, self: self}
}

// pipeTransport is a raftcore.Transport that sends no raft messages and a
// raftcore.StreamTransport over io.Pipe pairs.
type pipeTransport struct {
	net  *pipeNetwork
	self raftcore.Peer
}

func (t *pipeTransport) HandleStream(proto string, fn raftcore.StreamHandler) error {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	t.net.handlers[t.self.Addr][proto] = fn
	return nil
}

func (t *pipeTransport) OpenStream(ctx context.Context, to raftcore.Peer, proto string) (raftcore.Stream, error) {
	t.net.mu.Lock()
	fn := t.net.handlers[to.Addr][proto]
	remote := t.net.peers[to.Addr]
	t.net.mu.Unlock()
	if fn == nil {
		return nil, errors.New("pipe: no handler")
	}
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	local := &pipeStream{r: ar, w: aw, remote: remote}
	self := t.self
	self.ID = 0 // not a member of the remote's cluster
	t.net.running.Add(1)
	go func() {
		defer t.net.running.Done()
		fn(context.Background(), &pipeStream{r: br, w: bw, remote: self})
	}()
	return local, nil
}

func (t *pipeTransport) Start(raftcore.Handler) error { return nil }
func (t *pipeTransport) Send([]*raftpb.Message)       {}
func (t *pipeTransport) SendSnapshot(context.Context, *raftpb.Message, io.Reader) error {
	return errors.New("pipe: no snapshots")
}
func (t *pipeTransport) AddPeer(raftcore.Peer) error { return nil }
func (t *pipeTransport) RemovePeer(uint64)           {}
func (t *pipeTransport) Close() error {
	t.net.running.Wait()
	return nil
}

type pipeStream struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	remote raftcore.Peer
}

func (s *pipeStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *pipeStream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *pipeStream) CloseWrite() error           { return s.w.Close() }
func (s *pipeStream) Close() error {
	_ = s.w.Close()
	return s.r.CloseWithError(io.ErrClosedPipe)
}
func (s *pipeStream) Remote() raftcore.Peer { return s.remote }
