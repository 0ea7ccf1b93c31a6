package raftcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// membership is the replicated member metadata: who is in the cluster, where
// they listen, their identity keys, and which ids were removed (never reused).
// It changes only when a conf change entry is applied, and travels inside
// every snapshot.
type membership struct {
	peers     map[uint64]Peer
	removed   map[uint64]bool
	confState *raftpb.ConfState
}

func newMembership() *membership {
	return &membership{peers: map[uint64]Peer{}, removed: map[uint64]bool{}, confState: &raftpb.ConfState{}}
}

func (m *membership) clone() *membership {
	c := newMembership()
	for id, p := range m.peers {
		c.peers[id] = p
	}
	for id := range m.removed {
		c.removed[id] = true
	}
	c.confState = proto.Clone(m.confState).(*raftpb.ConfState)
	return c
}

func (m *membership) isVoter(id uint64) bool {
	return slices.Contains(m.confState.GetVoters(), id) || slices.Contains(m.confState.GetVotersOutgoing(), id)
}

func (m *membership) isLearner(id uint64) bool {
	return slices.Contains(m.confState.GetLearners(), id) || slices.Contains(m.confState.GetLearnersNext(), id)
}

func (m *membership) isMember(id uint64) bool { return m.isVoter(id) || m.isLearner(id) }

// The snapshot data stream starts with this header, then the state machine's
// own bytes. The header carries the membership so a node restored from a
// snapshot knows every member's address and key.
//
// The last byte is the format: 2 since proposal ids carry epochs (the dedup
// state that follows the header changed with them, see dedup.go). Format 1
// is refused as corrupt: no release wrote it.
var snapshotMagic = []byte("JGSN\x02")

const maxSnapshotHeader = 64 << 20

func (m *membership) writeHeader(w io.Writer) error {
	var body []byte
	ids := make([]uint64, 0, len(m.peers))
	for id := range m.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	body = binary.AppendUvarint(body, uint64(len(ids)))
	for _, id := range ids {
		pb, _ := m.peers[id].MarshalBinary()
		body = binary.AppendUvarint(body, uint64(len(pb)))
		body = append(body, pb...)
	}
	removed := make([]uint64, 0, len(m.removed))
	for id := range m.removed {
		removed = append(removed, id)
	}
	slices.Sort(removed)
	body = binary.AppendUvarint(body, uint64(len(removed)))
	for _, id := range removed {
		body = binary.AppendUvarint(body, id)
	}
	head := append(slices.Clone(snapshotMagic), binary.AppendUvarint(nil, uint64(len(body)))...)
	if _, err := w.Write(head); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// readHeader reads the header from r, leaving r at the state machine's bytes.
func readMembershipHeader(r io.Reader, cs *raftpb.ConfState) (*membership, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return nil, fmt.Errorf("%w: snapshot header missing", ErrCorrupt)
	}
	size, err := binary.ReadUvarint(byteReader{r})
	if err != nil || size > maxSnapshotHeader {
		return nil, fmt.Errorf("%w: snapshot header size", ErrCorrupt)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: snapshot header truncated", ErrCorrupt)
	}
	m := newMembership()
	if cs != nil {
		m.confState = proto.Clone(cs).(*raftpb.ConfState)
	}
	n, k := binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)) {
		return nil, fmt.Errorf("%w: snapshot header peers", ErrCorrupt)
	}
	body = body[k:]
	for range n {
		field, rest, err := readBytes(body)
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot header peer", ErrCorrupt)
		}
		var p Peer
		if err := p.UnmarshalBinary(field); err != nil {
			return nil, err
		}
		m.peers[p.ID] = p
		body = rest
	}
	n, k = binary.Uvarint(body)
	if k <= 0 || n > uint64(len(body)) {
		return nil, fmt.Errorf("%w: snapshot header removed ids", ErrCorrupt)
	}
	body = body[k:]
	for range n {
		id, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, fmt.Errorf("%w: snapshot header removed id", ErrCorrupt)
		}
		m.removed[id] = true
		body = body[k:]
	}
	return m, nil
}

type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var one [1]byte
	_, err := io.ReadFull(b.r, one[:])
	return one[0], err
}
