package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jangada-io/jangada/codec"
)

// Protocol is the protocol id the server registers on a StreamTransport.
const Protocol = "jangada/mgmt/1"

// Wire format of jangada/mgmt/1. One stream carries one call: the client
// writes one request frame and closes its side for writing; the server writes
// one response frame and, for a call to Events, event frames after it. Every
// frame is a codec frame (length, CRC-32C, payload); a payload is
//
//	version (1 byte, 1) | kind (1 byte) | JSON body
//
// A version a node does not know fails the call with ErrProtocol, so a later
// version can be introduced beside this one.
const (
	wireVersion byte = 1

	kindRequest  byte = 1
	kindResponse byte = 2
	kindEvent    byte = 3
)

// DefaultMaxFrameSize bounds the frames a server or client accepts.
const DefaultMaxFrameSize = 1 << 20

// Operation names on the wire.
const (
	opStatus         = "status"
	opMemberList     = "member-list"
	opMemberAdd      = "member-add"
	opMemberPromote  = "member-promote"
	opMemberRemove   = "member-remove"
	opLeaderTransfer = "leader-transfer"
	opSnapshot       = "snapshot"
	opHealth         = "health"
	opEvents         = "events"
)

// mutating reports whether op changes the cluster and so needs an admin.
func mutating(op string) bool {
	switch op {
	case opMemberAdd, opMemberPromote, opMemberRemove, opLeaderTransfer, opSnapshot:
		return true
	}
	return false
}

// adminOnly reports whether op needs an admin: the mutating operations,
// and the state copy, which is all the data.
func adminOnly(op string) bool { return mutating(op) || op == opState || op == opStateZstd }

// request is the body of a request frame; fields not used by Op are zero.
type request struct {
	Op      string `json:"op"`
	ID      uint64 `json:"id,omitempty"`
	Address string `json:"address,omitempty"`
	Key     []byte `json:"key,omitempty"`
	Learner bool   `json:"learner,omitempty"`
	Since   uint64 `json:"since,omitempty"`
	Follow  bool   `json:"follow,omitempty"`
	// Resumed marks an event stream that continues one begun elsewhere: node
	// events are then sent live only, even when Since is 0.
	Resumed bool `json:"resumed,omitempty"`
}

// wireError is the error of a failed call.
type wireError struct {
	Code       Code   `json:"code"`
	Message    string `json:"message"`
	LeaderID   uint64 `json:"leader_id,omitempty"`
	LeaderAddr string `json:"leader_addr,omitempty"`
	LeaderKey  []byte `json:"leader_key,omitempty"`
}

// response is the body of a response frame.
type response struct {
	Node    uint64        `json:"node"`
	Error   *wireError    `json:"error,omitempty"`
	Status  *Status       `json:"status,omitempty"`
	Members []Member      `json:"members,omitempty"`
	Index   uint64        `json:"index,omitempty"`
	Leader  uint64        `json:"leader,omitempty"`
	Health  []HealthCheck `json:"health,omitempty"`
	// State describes a state copy (State call); Size ends it.
	State *StateInfo `json:"state,omitempty"`
	Size  int64      `json:"size,omitempty"`
	// StateSize and StateSHA256 end a compressed state copy (Size counts
	// its compressed bytes): the state's size and SHA-256, hex.
	StateSize   int64  `json:"state_size,omitempty"`
	StateSHA256 string `json:"state_sha256,omitempty"`
}

// encodeFrame returns v as one frame of the given kind.
func encodeFrame(kind byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mgmt: encode: %w", err)
	}
	payload := make([]byte, 0, 2+len(body))
	payload = append(payload, wireVersion, kind)
	payload = append(payload, body...)
	return codec.AppendFrame(nil, payload), nil
}

// decodePayload checks a frame payload's version and kind and decodes its
// body into v. Unknown fields are rejected, so a peer speaking a different
// version of a message is noticed rather than misread.
func decodePayload(payload []byte, kind byte, v any) error {
	if len(payload) < 2 {
		return fmt.Errorf("%w: frame of %d bytes", ErrProtocol, len(payload))
	}
	if payload[0] != wireVersion {
		return fmt.Errorf("%w: version %d, this node speaks %d", ErrProtocol, payload[0], wireVersion)
	}
	if payload[1] != kind {
		return fmt.Errorf("%w: frame kind %d, want %d", ErrProtocol, payload[1], kind)
	}
	dec := json.NewDecoder(bytes.NewReader(payload[2:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the body", ErrProtocol)
	}
	return nil
}

// frameReader reads the frames of one stream.
type frameReader struct{ fr *codec.FrameReader }

func newFrameReader(r io.Reader, maxFrameSize int) frameReader {
	return frameReader{fr: codec.NewFrameReader(r, maxFrameSize)}
}

// readAny reads the next frame and returns its kind and body, checked for
// version. The body is valid until the next read.
func (r frameReader) readAny() (byte, []byte, error) {
	payload, err := r.fr.ReadFrame()
	if err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		if isCodecError(err) {
			return 0, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return 0, nil, err
	}
	if len(payload) < 2 {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, len(payload))
	}
	if payload[0] != wireVersion {
		return 0, nil, fmt.Errorf("%w: version %d, this node speaks %d", ErrProtocol, payload[0], wireVersion)
	}
	return payload[1], payload, nil
}

// read reads the next frame into v. It returns io.EOF at a clean end of the
// stream and an error wrapping ErrProtocol for a malformed frame.
func (r frameReader) read(kind byte, v any) error {
	payload, err := r.fr.ReadFrame()
	if err != nil {
		if err == io.EOF {
			return io.EOF
		}
		if isCodecError(err) {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return err
	}
	return decodePayload(payload, kind, v)
}

func isCodecError(err error) bool {
	return errors.Is(err, codec.ErrChecksum) || errors.Is(err, codec.ErrFrameTooLarge) ||
		errors.Is(err, codec.ErrMalformed) || errors.Is(err, io.ErrUnexpectedEOF)
}
