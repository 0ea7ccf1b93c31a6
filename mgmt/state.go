package mgmt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// The State call copies the node's state machine to the caller, for
// backups. Its stream carries the request, a response frame with a
// StateInfo, data frames of the state's bytes, and a final response frame:
// an empty one after the last byte, or the error that ended the copy.

const (
	opState = "state"

	// kindData frames carry raw bytes after the version and kind bytes.
	kindData byte = 4

	// stateChunkSize is the state bytes per data frame, well under
	// DefaultMaxFrameSize.
	stateChunkSize = 256 << 10
)

// StateSource is implemented by nodes that can copy their state machine;
// *raftcore.Node does. The server answers State only for such a node.
type StateSource interface {
	OpenState(ctx context.Context) (raftcore.StateCopy, error)
}

var _ StateSource = (*raftcore.Node[struct{}, struct{}])(nil)

// StateInfo describes a copy of a node's state machine.
type StateInfo struct {
	// Node is the id of the node that served the copy.
	Node uint64 `json:"node"`
	// Index and Term are those of the last entry the state includes. Every
	// write acknowledged before the State call is at or below Index.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Members is the membership at Index (Match, Lag, Progress unset).
	Members []Member `json:"members"`
	// StateMachine is the name the server was configured with
	// (ServerConfig.StateMachine), "" if none.
	StateMachine string `json:"state_machine,omitempty"`
	// Compression is "zstd" when the server compresses the copy
	// (Client.StateCompressed), "" when it streams the state's bytes.
	Compression string `json:"compression,omitempty"`
}

// stateInfoOf describes sc as served by node.
func stateInfoOf(node uint64, name string, sc raftcore.StateCopy) *StateInfo {
	info := &StateInfo{Node: node, Index: sc.Meta.Index, Term: sc.Meta.Term, StateMachine: name, Members: []Member{}}
	learner := map[uint64]bool{}
	for _, id := range sc.Learners {
		learner[id] = true
	}
	for _, p := range sc.Members {
		role := RoleVoter
		if learner[p.ID] {
			role = RoleLearner
		}
		info.Members = append(info.Members, Member{ID: p.ID, Address: p.Addr, Key: p.Key, Role: role})
	}
	return info
}

// serveState answers a State call, compressed for StateCompressed: the
// copy streams until it ends, the client goes away, or the server closes;
// CallTimeout does not bound it.
func (s *Server) serveState(ctx context.Context, st raftcore.Stream, compressed bool) response {
	src, ok := s.node.(StateSource)
	if !ok {
		return errorResponse(fmt.Errorf("%w: this node cannot copy its state", ErrInvalid))
	}
	// The read index round is bounded like any call; the copy is not.
	openCtx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	sc, err := src.OpenState(openCtx)
	cancel()
	if err != nil {
		return errorResponse(err)
	}
	defer sc.Close()
	info := stateInfoOf(s.node.ID(), s.cfg.StateMachine, sc)
	if compressed {
		info.Compression = compressionZstd
		s.reply(st, response{Node: s.node.ID(), State: info})
		return streamCompressedState(st, sc)
	}
	s.reply(st, response{Node: s.node.ID(), State: info})
	buf := make([]byte, 2+stateChunkSize)
	buf[0], buf[1] = wireVersion, kindData
	frame := make([]byte, 0, len(buf)+16)
	var size int64
	for {
		n, err := io.ReadFull(sc, buf[2:])
		if n > 0 {
			frame = codec.AppendFrame(frame[:0], buf[:2+n])
			if _, werr := st.Write(frame); werr != nil {
				return response{Error: &wireError{Code: CodeUnavailable, Message: werr.Error()}}
			}
			size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return response{Size: size}
		}
		if err != nil {
			return errorResponse(fmt.Errorf("read state copy at index %d: %w", sc.Meta.Index, err))
		}
	}
}

// StateReader reads a copy of a node's state machine as Client.State
// returns it. Read returns io.EOF after the last byte only once the server
// confirmed the copy complete; a copy that ended early fails with the
// server's error or io.ErrUnexpectedEOF. Close it when done.
type StateReader struct {
	// Info describes the copy.
	Info StateInfo

	st      raftcore.Stream
	fr      frameReader
	stop    func() bool
	pending []byte
	read    int64
	err     error
	once    sync.Once
	// stateRead and stateSHA256 describe the state a compressed copy
	// holds: the bytes read so far (as the server counted them), and, at
	// the end, its checksum.
	stateRead   atomic.Int64
	stateSHA256 []byte
}

// Read implements io.Reader.
func (r *StateReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.read += int64(n)
	return n, nil
}

// next reads one frame: data into pending, or the end of the copy.
func (r *StateReader) next() error {
	kind, payload, err := r.fr.readAny()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("mgmt: state copy from node %d ended without its end frame: %w", r.Info.Node, io.ErrUnexpectedEOF)
		}
		return err
	}
	switch {
	case kind == kindData && !r.Compressed():
		r.pending = payload[2:]
		return nil
	case kind == kindZstdData && r.Compressed():
		if len(payload) < 2+8 {
			return fmt.Errorf("%w: compressed state frame of %d bytes", ErrProtocol, len(payload))
		}
		r.stateRead.Store(int64(binary.BigEndian.Uint64(payload[2:])))
		r.pending = payload[2+8:]
		return nil
	case kind == kindResponse:
		var end response
		if err := decodePayload(payload, kindResponse, &end); err != nil {
			return err
		}
		if err := end.err(); err != nil {
			return fmt.Errorf("mgmt: state copy from node %d: %w", r.Info.Node, err)
		}
		if end.Size != r.read+int64(len(r.pending)) {
			return fmt.Errorf("%w: state copy of %d bytes, server sent %d", ErrProtocol, r.read, end.Size)
		}
		if r.Compressed() {
			return r.endCompressed(end)
		}
		return io.EOF
	}
	return fmt.Errorf("%w: frame kind %d in a state copy", ErrProtocol, kind)
}

// Close ends the copy; reading a copy to its end does not close it.
func (r *StateReader) Close() error {
	r.once.Do(func() {
		r.stop()
		r.st.Close()
	})
	return nil
}

// State opens a copy of the state machine of the first endpoint that
// answers (any member: the copy is taken at a linearizable read index, so
// it holds every write acknowledged before the call). The copy streams as
// the caller reads it and is never held whole in memory; ctx bounds the
// whole copy. State needs admin credentials: the copy is all the data.
//
// Errors: ErrUnauthorized, ErrInvalid (the node cannot copy its state),
// ErrUnavailable, ErrNoEndpoint, the context's error.
func (c *Client) State(ctx context.Context) (*StateReader, error) {
	return c.state(ctx, opState)
}

func (c *Client) state(ctx context.Context, op string) (*StateReader, error) {
	var lastErr error
	for attempt := 0; attempt < len(c.endpoints)*c.cfg.MaxRetries; attempt++ {
		if attempt > 0 && attempt%len(c.endpoints) == 0 {
			if err := c.pause(ctx, attempt/len(c.endpoints)-1); err != nil {
				return nil, err
			}
		}
		endpoint := c.endpoint(attempt)
		r, err := c.openState(ctx, endpoint, op)
		if err == nil {
			c.prefer(endpoint)
			return r, nil
		}
		lastErr = err
		c.cfg.Logger.Debug("call failed", "op", op, "endpoint", endpoint.Addr, "err", err)
		var re *RemoteError
		if ctx.Err() != nil || errors.As(err, &re) && !retryable(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrNoEndpoint, op, lastErr)
}

func (c *Client) openState(ctx context.Context, endpoint raftcore.Peer, op string) (*StateReader, error) {
	frame, err := encodeFrame(kindRequest, request{Op: op})
	if err != nil {
		return nil, err
	}
	st, err := c.cfg.Transport.OpenStream(ctx, endpoint, Protocol)
	if err != nil {
		return nil, fmt.Errorf("mgmt: %s on %s: %w", op, endpoint.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { st.Close() })
	fail := func(err error) (*StateReader, error) {
		stop()
		st.Close()
		return nil, c.ctxErr(ctx, fmt.Errorf("mgmt: %s on %s: %w", op, endpoint.Addr, err))
	}
	if _, err := st.Write(frame); err != nil {
		return fail(err)
	}
	_ = st.CloseWrite()
	fr := newFrameReader(st, c.cfg.MaxFrameSize)
	var first response
	if err := fr.read(kindResponse, &first); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail(err)
	}
	if err := first.err(); err != nil {
		stop()
		st.Close()
		return nil, err
	}
	if first.State == nil {
		return fail(fmt.Errorf("%w: state response without a description", ErrProtocol))
	}
	want := ""
	if op == opStateZstd {
		want = compressionZstd
	}
	if first.State.Compression != want {
		return fail(fmt.Errorf("%w: %s answered with compression %q", ErrProtocol, op, first.State.Compression))
	}
	return &StateReader{Info: *first.State, st: st, fr: fr, stop: stop}, nil
}
