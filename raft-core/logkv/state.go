package logkv

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// State is everything about the log except the entries: what InitialState,
// Snapshot, FirstIndex and LastIndex return and the term of the dummy entry
// at FirstIndex-1. It is stored as one record under StateKey.
type State struct {
	HardState  *raftpb.HardState        // never nil
	Snapshot   *raftpb.SnapshotMetadata // never nil, every field set
	DummyIndex uint64                   // FirstIndex-1: the compaction point
	DummyTerm  uint64
	LastIndex  uint64
}

// NewState returns the state of an empty log.
func NewState() State {
	return State{
		HardState: &raftpb.HardState{},
		Snapshot:  raftpb.EnsureSnapshotMetadata(nil),
	}
}

// ConfState returns a copy of the snapshot's ConfState with every field set,
// as raft.Storage's InitialState returns it.
func (s State) ConfState() *raftpb.ConfState {
	cs := s.Snapshot.GetConfState()
	if cs == nil {
		return raftpb.EnsureConfState(nil)
	}
	return raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
}

const stateVersion = 1

// Encode returns the record of s, stored under StateKey: a version byte, the
// compaction point, its term and the last index as uvarints, then the hard
// state and the snapshot metadata as length-prefixed protobuf, the whole
// sealed with a CRC-32C.
func (s State) Encode() ([]byte, error) {
	hs, err := proto.Marshal(s.HardState)
	if err != nil {
		return nil, fmt.Errorf("logkv: encoding hard state: %w", err)
	}
	snap, err := proto.Marshal(s.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("logkv: encoding snapshot metadata: %w", err)
	}
	payload := []byte{stateVersion}
	payload = binary.AppendUvarint(payload, s.DummyIndex)
	payload = binary.AppendUvarint(payload, s.DummyTerm)
	payload = binary.AppendUvarint(payload, s.LastIndex)
	payload = binary.AppendUvarint(payload, uint64(len(hs)))
	payload = append(payload, hs...)
	payload = binary.AppendUvarint(payload, uint64(len(snap)))
	payload = append(payload, snap...)
	return seal([]byte(StateKey), payload), nil
}

// DecodeState verifies and decodes a record written by Encode. A record
// that fails its checksum, is of an unknown version or does not parse
// returns an error wrapping raftcore.ErrCorrupt.
func DecodeState(value []byte) (State, error) {
	payload, err := unseal([]byte(StateKey), value)
	if err != nil {
		return State{}, err
	}
	corrupt := func(what string) (State, error) {
		return State{}, fmt.Errorf("%w: state record: %s", raftcore.ErrCorrupt, what)
	}
	if len(payload) == 0 || payload[0] != stateVersion {
		return corrupt("unknown version")
	}
	r := payload[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	bytesField := func() ([]byte, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(r)) {
			return nil, false
		}
		b := r[:n]
		r = r[n:]
		return b, true
	}
	var s State
	var ok1, ok2, ok3, ok4, ok5 bool
	s.DummyIndex, ok1 = uvarint()
	s.DummyTerm, ok2 = uvarint()
	s.LastIndex, ok3 = uvarint()
	hs, ok4 := bytesField()
	snap, ok5 := bytesField()
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || len(r) != 0 || s.LastIndex < s.DummyIndex {
		return corrupt("malformed")
	}
	s.HardState = new(raftpb.HardState)
	if err := proto.Unmarshal(hs, s.HardState); err != nil {
		return corrupt("hard state: " + err.Error())
	}
	s.Snapshot = new(raftpb.SnapshotMetadata)
	if err := proto.Unmarshal(snap, s.Snapshot); err != nil {
		return corrupt("snapshot metadata: " + err.Error())
	}
	s.Snapshot = raftpb.EnsureSnapshotMetadata(s.Snapshot)
	return s, nil
}
