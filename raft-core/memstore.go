package raftcore

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/jangada-io/jangada/raft-core/raftwire"
)

// MemoryLogStore is a LogStore kept in memory, for tests and development. It
// is "durable" only for the life of the process.
type MemoryLogStore struct {
	mu     sync.Mutex
	closed bool
	hs     *raftpb.HardState
	snap   *raftpb.Snapshot // metadata only
	// ents[0] is a dummy entry holding the index and term of the entry before
	// the first available one (the compaction point).
	ents []*raftpb.Entry
}

var _ LogStore = (*MemoryLogStore)(nil)

// NewMemoryLogStore returns an empty log.
func NewMemoryLogStore() *MemoryLogStore {
	return &MemoryLogStore{
		hs:   &raftpb.HardState{},
		snap: raftpb.EnsureSnapshot(nil),
		ents: []*raftpb.Entry{{Index: new(uint64(0)), Term: new(uint64(0))}},
	}
}

// InitialState implements raft.Storage.
func (s *MemoryLogStore) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	hs := proto.Clone(s.hs).(*raftpb.HardState)
	cs := proto.Clone(s.snap.GetMetadata().GetConfState()).(*raftpb.ConfState)
	return hs, cs, nil
}

func (s *MemoryLogStore) firstIndex() uint64 { return s.ents[0].GetIndex() + 1 }
func (s *MemoryLogStore) lastIndex() uint64 {
	return s.ents[0].GetIndex() + uint64(len(s.ents)) - 1
}

// Entries implements raft.Storage.
func (s *MemoryLogStore) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	offset := s.ents[0].GetIndex()
	if lo <= offset {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex()+1 || lo > hi {
		return nil, fmt.Errorf("%w: entries [%d, %d) beyond last index %d", raft.ErrUnavailable, lo, hi, s.lastIndex())
	}
	if lo == hi {
		return nil, nil
	}
	src := s.ents[lo-offset : hi-offset]
	out := make([]*raftpb.Entry, 0, len(src))
	var size uint64
	for _, e := range src {
		size += uint64(raftwire.SizeEntry(e))
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, copyEntry(e))
	}
	return out, nil
}

// copyEntry returns an entry sharing nothing with e, so that neither the
// store nor its callers can change what the other holds.
func copyEntry(e *raftpb.Entry) *raftpb.Entry {
	c := &raftpb.Entry{Term: new(e.GetTerm()), Index: new(e.GetIndex())}
	if e.Type != nil {
		c.Type = e.GetType().Enum()
	}
	if e.Data != nil {
		c.Data = append([]byte(nil), e.Data...)
	}
	return c
}

// Term implements raft.Storage.
func (s *MemoryLogStore) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	offset := s.ents[0].GetIndex()
	if i < offset {
		return 0, raft.ErrCompacted
	}
	if i-offset >= uint64(len(s.ents)) {
		return 0, raft.ErrUnavailable
	}
	return s.ents[i-offset].GetTerm(), nil
}

// LastIndex implements raft.Storage.
func (s *MemoryLogStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.lastIndex(), nil
}

// FirstIndex implements raft.Storage.
func (s *MemoryLogStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.firstIndex(), nil
}

// Snapshot implements raft.Storage; it returns metadata only.
func (s *MemoryLogStore) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return proto.Clone(s.snap).(*raftpb.Snapshot), nil
}

// Save implements LogStore.
func (s *MemoryLogStore) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := checkContiguous(entries); err != nil {
		return err
	}
	// Validate everything before changing anything, so a failed Save leaves
	// the store as it was.
	offset, last := s.ents[0].GetIndex(), s.lastIndex()
	if !raft.IsEmptySnap(snap) {
		if snap.GetMetadata().GetIndex() <= s.snap.GetMetadata().GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		offset, last = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	}
	if len(entries) > 0 && entries[0].GetIndex() > last+1 {
		return fmt.Errorf("%w: append at %d leaves a gap after last index %d", raft.ErrUnavailable, entries[0].GetIndex(), last)
	}
	if !raft.IsEmptySnap(snap) {
		md := snap.GetMetadata()
		s.snap = &raftpb.Snapshot{Metadata: proto.Clone(md).(*raftpb.SnapshotMetadata)}
		s.ents = []*raftpb.Entry{{Index: new(md.GetIndex()), Term: new(md.GetTerm())}}
	}
	for len(entries) > 0 && entries[0].GetIndex() <= offset {
		entries = entries[1:]
	}
	if len(entries) > 0 {
		// Entries hands out copies, so the backing array can be reused:
		// truncating and appending in place keeps Save O(len(entries)).
		keep := entries[0].GetIndex() - s.ents[0].GetIndex()
		s.ents = s.ents[:keep]
		for _, e := range entries {
			s.ents = append(s.ents, copyEntry(e))
		}
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	return nil
}

func checkContiguous(entries []*raftpb.Entry) error {
	for i := 1; i < len(entries); i++ {
		if entries[i].GetIndex() != entries[i-1].GetIndex()+1 {
			return fmt.Errorf("raftcore: entries not contiguous: %d follows %d", entries[i].GetIndex(), entries[i-1].GetIndex())
		}
	}
	return nil
}

// SetSnapshot implements LogStore.
func (s *MemoryLogStore) SetSnapshot(meta *raftpb.SnapshotMetadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if meta.GetIndex() <= s.snap.GetMetadata().GetIndex() {
		return raft.ErrSnapOutOfDate
	}
	if meta.GetIndex() > s.lastIndex() {
		return raft.ErrUnavailable
	}
	s.snap = &raftpb.Snapshot{Metadata: raftpb.EnsureSnapshotMetadata(proto.Clone(meta).(*raftpb.SnapshotMetadata))}
	return nil
}

// Compact implements LogStore.
func (s *MemoryLogStore) Compact(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	offset := s.ents[0].GetIndex()
	if index <= offset {
		return raft.ErrCompacted
	}
	if index > s.snap.GetMetadata().GetIndex() {
		return fmt.Errorf("raftcore: compact to %d beyond latest snapshot %d", index, s.snap.GetMetadata().GetIndex())
	}
	if index > s.lastIndex() {
		return fmt.Errorf("%w: compact to %d beyond last index %d", raft.ErrUnavailable, index, s.lastIndex())
	}
	i := index - offset
	ents := make([]*raftpb.Entry, 1, uint64(len(s.ents))-i)
	ents[0] = &raftpb.Entry{Index: new(index), Term: new(s.ents[i].GetTerm())}
	s.ents = append(ents, s.ents[i+1:]...)
	return nil
}

// Close implements LogStore.
func (s *MemoryLogStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return nil
}

// MemorySnapshotStore is a SnapshotStore kept in memory, for tests and
// development.
type MemorySnapshotStore struct {
	mu    sync.Mutex
	snaps map[uint64]memSnapshot
}

type memSnapshot struct {
	meta SnapshotMeta
	data []byte
}

var _ SnapshotStore = (*MemorySnapshotStore)(nil)

// NewMemorySnapshotStore returns an empty snapshot store.
func NewMemorySnapshotStore() *MemorySnapshotStore {
	return &MemorySnapshotStore{snaps: make(map[uint64]memSnapshot)}
}

// Create implements SnapshotStore.
func (s *MemorySnapshotStore) Create(meta SnapshotMeta) (SnapshotSink, error) {
	if meta.Index == 0 {
		return nil, fmt.Errorf("raftcore: snapshot index must not be 0")
	}
	if meta.ConfState != nil {
		meta.ConfState = proto.Clone(meta.ConfState).(*raftpb.ConfState)
	}
	return &memSink{store: s, meta: meta}, nil
}

// Open implements SnapshotStore.
func (s *MemorySnapshotStore) Open(index uint64) (SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.snaps[index]
	if !ok {
		return SnapshotMeta{}, nil, fmt.Errorf("%w: index %d", ErrSnapshotNotFound, index)
	}
	return snap.meta, io.NopCloser(bytes.NewReader(snap.data)), nil
}

// List implements SnapshotStore.
func (s *MemorySnapshotStore) List() ([]SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SnapshotMeta, 0, len(s.snaps))
	for _, snap := range s.snaps {
		out = append(out, snap.meta)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index > out[j].Index })
	return out, nil
}

// Prune implements SnapshotStore.
func (s *MemorySnapshotStore) Prune(keep int) error {
	if keep < 1 {
		return fmt.Errorf("raftcore: prune must keep at least 1 snapshot, got %d", keep)
	}
	list, _ := s.List()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, meta := range list[min(keep, len(list)):] {
		delete(s.snaps, meta.Index)
	}
	return nil
}

// Delete implements SnapshotDeleter.
func (s *MemorySnapshotStore) Delete(index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.snaps, index)
	return nil
}

type memSink struct {
	store *MemorySnapshotStore
	meta  SnapshotMeta
	buf   bytes.Buffer
	done  bool
}

func (k *memSink) Write(p []byte) (int, error) {
	if k.done {
		return 0, ErrClosed
	}
	return k.buf.Write(p)
}

func (k *memSink) Commit() error {
	if k.done {
		return ErrClosed
	}
	k.done = true
	k.meta.Size = int64(k.buf.Len())
	k.store.mu.Lock()
	k.store.snaps[k.meta.Index] = memSnapshot{meta: k.meta, data: k.buf.Bytes()}
	k.store.mu.Unlock()
	return nil
}

func (k *memSink) Abort() error {
	k.done = true
	k.buf = bytes.Buffer{}
	return nil
}

var _ SnapshotDeleter = (*MemorySnapshotStore)(nil)
