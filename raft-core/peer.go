package raftcore

import (
	"encoding/binary"
	"fmt"
)

// Peer identifies a cluster member to the transport: its raft id, the address
// its transport listens on, and (optionally) the public key of its identity.
// A Peer is carried in the context of the membership change that added the
// member, so every node learns it through the replicated log.
type Peer struct {
	// ID is the raft id; never 0, never reused after removal.
	ID uint64
	// Addr is the transport address ("127.0.0.1:7001" for QUIC, any unique
	// string for in-memory transports).
	Addr string
	// Key is the member's identity public key (ed25519 for transport-quic).
	// Empty when the transport does not authenticate by key.
	Key []byte
}

func (p Peer) String() string {
	if p.Addr == "" {
		return fmt.Sprintf("%d", p.ID)
	}
	return fmt.Sprintf("%d@%s", p.ID, p.Addr)
}

const peerEncodingVersion = 1

// MarshalBinary encodes p deterministically: every node bootstrapping the same
// peers must produce byte-identical conf change entries.
func (p Peer) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*3+len(p.Addr)+len(p.Key))
	b = append(b, peerEncodingVersion)
	b = binary.AppendUvarint(b, p.ID)
	b = binary.AppendUvarint(b, uint64(len(p.Addr)))
	b = append(b, p.Addr...)
	b = binary.AppendUvarint(b, uint64(len(p.Key)))
	b = append(b, p.Key...)
	return b, nil
}

// UnmarshalBinary decodes a Peer written by MarshalBinary. It never panics on
// malformed input; it returns an error wrapping ErrCorrupt.
func (p *Peer) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != peerEncodingVersion {
		return fmt.Errorf("%w: peer metadata: unknown encoding", ErrCorrupt)
	}
	b = b[1:]
	id, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: peer metadata: bad id", ErrCorrupt)
	}
	b = b[n:]
	addr, b, err := readBytes(b)
	if err != nil {
		return fmt.Errorf("%w: peer metadata: bad address", ErrCorrupt)
	}
	key, b, err := readBytes(b)
	if err != nil || len(b) != 0 {
		return fmt.Errorf("%w: peer metadata: bad key", ErrCorrupt)
	}
	p.ID = id
	p.Addr = string(addr)
	p.Key = nil
	if len(key) > 0 {
		p.Key = append([]byte(nil), key...)
	}
	return nil
}

func readBytes(b []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, ErrCorrupt
	}
	return b[n : n+int(l)], b[n+int(l):], nil
}
