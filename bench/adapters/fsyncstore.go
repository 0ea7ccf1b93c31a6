package adapters

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// fsyncFloorStore is the cheapest store that still waits for the disk: the
// memory store, plus, for every Save, the batch's bytes written into a
// preallocated file and fdatasync'd. It cannot recover anything after a
// restart. It measures what the engine achieves when the store costs only
// the fsync: roughly what a real durable store on the same disk can reach.
// Not a strict bound: on some virtual disks an fdatasync after overwriting
// freshly written zeros costs more than one after pebble's WAL appends.
type fsyncFloorStore struct {
	*raftcore.MemoryLogStore
	mu  sync.Mutex
	f   *os.File
	off int64
	buf []byte
}

// fsyncFloorFileSize is the preallocated file, reused from the start when
// full: overwriting allocated blocks is the fastest fdatasync a log gets.
const fsyncFloorFileSize = 64 << 20

func openFsyncFloorStore(dir string) (*fsyncFloorStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "fsync-floor.log"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(make([]byte, fsyncFloorFileSize)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return &fsyncFloorStore{MemoryLogStore: raftcore.NewMemoryLogStore(), f: f}, nil
}

// Save writes what a log would (the entries and the hard state, encoded)
// and syncs it before updating the memory store.
func (s *fsyncFloorStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	buf := s.buf[:0]
	var err error
	for _, e := range ents {
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, e); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if hs != nil {
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, hs); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	if s.off+int64(len(buf)) > fsyncFloorFileSize {
		s.off = 0
	}
	if len(buf) > fsyncFloorFileSize {
		s.mu.Unlock()
		return fmt.Errorf("bench: a %d-byte Save exceeds the fsync floor file", len(buf))
	}
	_, err = s.f.WriteAt(buf, s.off)
	if err == nil {
		s.off += int64(len(buf))
		err = syscall.Fdatasync(int(s.f.Fd()))
	}
	s.buf = buf
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.MemoryLogStore.Save(hs, ents, snap)
}

// Close closes the file and the memory store.
func (s *fsyncFloorStore) Close() error {
	err := s.f.Close()
	if e := s.MemoryLogStore.Close(); err == nil {
		err = e
	}
	return err
}
