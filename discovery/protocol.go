package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jangada-io/jangada/codec"
	raftcore "github.com/jangada-io/jangada/raft-core"
)

// Protocol is the protocol id of discovery on a StreamTransport.
const Protocol = raftcore.ProtocolDiscovery

// Wire format of jangada/discovery/1: one stream carries one call. The
// caller writes one request frame and closes its side for writing; the
// node answers with one response frame. Frames are codec frames (length,
// CRC-32C, payload) whose payload is a version byte (1) and a JSON body.
const wireVersion byte = 1

// maxFrameSize bounds a frame either side accepts.
const maxFrameSize = 64 << 10

// Operations.
const (
	opProbe   = "probe"   // who are you, are you in a cluster, are you locked
	opLock    = "lock"    // bootstrap-expect: promise to form only the decider's set
	opUnlock  = "unlock"  // bootstrap-expect: the decider gives up
	opJoin    = "join"    // add me as a learner (with a ticket, or as an authorized peer)
	opPromote = "promote" // make me a voter once caught up
	opAddress = "address" // I moved: record my new address
)

// wirePeer is a node on the wire.
type wirePeer struct {
	ID   uint64 `json:"id"`
	Addr string `json:"addr"`
	Key  []byte `json:"key,omitempty"`
	Role string `json:"role,omitempty"`
}

func toWire(p raftcore.Peer) wirePeer { return wirePeer{ID: p.ID, Addr: p.Addr, Key: p.Key} }

func (w wirePeer) peer() raftcore.Peer { return raftcore.Peer{ID: w.ID, Addr: w.Addr, Key: w.Key} }

func peersOf(ws []wirePeer) []raftcore.Peer {
	out := make([]raftcore.Peer, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.peer())
	}
	return out
}

type request struct {
	Op string `json:"op"`
	// From is the id the caller claims (probe, lock, unlock, join without a
	// ticket, promote). What it may do depends on what the transport proved.
	From   uint64     `json:"from,omitempty"`
	Addr   string     `json:"addr,omitempty"`
	Ticket string     `json:"ticket,omitempty"`
	Set    []wirePeer `json:"set,omitempty"`
}

type wireError struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	LeaderID   uint64 `json:"leader_id,omitempty"`
	LeaderAddr string `json:"leader_addr,omitempty"`
	LeaderKey  []byte `json:"leader_key,omitempty"`
}

type response struct {
	Error *wireError `json:"error,omitempty"`
	// Node is the answering node.
	Node wirePeer `json:"node"`
	// Fresh: the node has no cluster yet and waits to form one.
	Fresh bool `json:"fresh,omitempty"`
	// LockedBy is the decider the node promised to form with (0: none).
	LockedBy uint64 `json:"locked_by,omitempty"`
	// Formed is the initial membership the node bootstrapped with, or was
	// promised to, once the decider formed it.
	Formed []wirePeer `json:"formed,omitempty"`
	// Members are the node's current members (a running node).
	Members []wirePeer `json:"members,omitempty"`
	Leader  uint64     `json:"leader,omitempty"`
	// Voter: the caller of promote is a voter now. Lag is how far behind it
	// is otherwise.
	Voter bool   `json:"voter,omitempty"`
	Lag   uint64 `json:"lag,omitempty"`
	// Waiting says what a forming node waits for.
	Waiting string `json:"waiting,omitempty"`
	// SeenAs is the address the caller's stream came from.
	SeenAs string `json:"seen_as,omitempty"`
}

func errorOf(err error) *wireError {
	we := &wireError{Code: codeOf(err), Message: err.Error()}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		we.LeaderID, we.LeaderAddr, we.LeaderKey = nl.LeaderID, nl.LeaderAddr, nl.LeaderKey
	}
	return we
}

// err turns a wire error back into an error wrapping its sentinel; the
// message is the remote's, which names the sentinel already.
func (we *wireError) err() error {
	if we.Code == "not-leader" {
		return &NotLeaderError{LeaderID: we.LeaderID, LeaderAddr: we.LeaderAddr, LeaderKey: we.LeaderKey}
	}
	sentinel, ok := codes[we.Code]
	if !ok {
		sentinel = ErrUnavailable
	}
	return &remoteError{sentinel: sentinel, msg: we.Message}
}

// remoteError is an error a node answered with.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("discovery: encode: %w", err)
	}
	_, err = w.Write(codec.AppendFrame(nil, append([]byte{wireVersion}, body...)))
	return err
}

func readFrame(r io.Reader, v any) error {
	payload, err := codec.NewFrameReader(r, maxFrameSize).ReadFrame()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: stream ended before a frame", ErrProtocol)
		}
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if len(payload) < 1 || payload[0] != wireVersion {
		return fmt.Errorf("%w: unknown version", ErrProtocol)
	}
	dec := json.NewDecoder(bytes.NewReader(payload[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return nil
}

// call sends req to the node at to and returns its answer; an error
// answer is returned as an error wrapping its sentinel.
func call(ctx context.Context, tr raftcore.StreamTransport, to raftcore.Peer, req request) (response, error) {
	// Ids are claimed, not proven, to a node that is not yet a member:
	// dial by address and, when known, key.
	s, err := tr.OpenStream(ctx, raftcore.Peer{Addr: to.Addr, Key: to.Key}, Protocol)
	if err != nil {
		return response{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, to.Addr, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	if err := writeFrame(s, req); err != nil {
		return response{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, to.Addr, err)
	}
	_ = s.CloseWrite()
	var resp response
	if err := readFrame(s, &resp); err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		return response{}, fmt.Errorf("%s: %w", to.Addr, err)
	}
	if resp.Error != nil {
		return resp, resp.Error.err()
	}
	return resp, nil
}
