package sim

import (
	"errors"
	"fmt"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// diskStore is a simulated LogStore with a durable and a volatile side. The
// engine reads and writes the volatile side (an in-memory log); every change
// also reaches the durable side, which is all that survives a crash. With a
// correct disk a change is durable when its call returns, as LogStore
// requires. With deferSync (the ack-before-fsync bug) changes only become
// durable when sync runs, later: what a crash loses in between had already
// been acknowledged.
//
// While failReads is set (NemesisReadError) the engine's reads of the log
// fail with errDiskRead; what the disk holds is intact, and the simulator's
// checks read it through MemoryLogStore.
type diskStore struct {
	*raftcore.MemoryLogStore
	durable   *raftcore.MemoryLogStore
	deferSync bool
	unsynced  []diskOp
	failReads readFault
}

// readFault says which reads of the log a diskStore fails.
type readFault int

const (
	readsOK readFault = iota
	// failEntries fails Entries. Raft reads entries from the store only
	// past the engine's cache of recent ones: after a restart (to apply
	// them), or to send them to a follower far behind.
	failEntries
	// failEntriesAndTerms fails Term as well. Raft reads a term for almost
	// every append it sends or receives, and as it starts.
	failEntriesAndTerms
	// failAllReads fails FirstIndex and LastIndex as well, which raft reads
	// whenever it hands out committed entries; the engine reads LastIndex
	// as it starts.
	failAllReads
)

func (f readFault) String() string {
	return [...]string{"none", "entry reads", "entry and term reads", "every read"}[f]
}

// errDiskRead is what a read of the log returns while the disk fails reads.
var errDiskRead = errors.New("sim: read of the log: input/output error")

var _ raftcore.LogStore = (*diskStore)(nil)

// diskOp is one change to the log, replayed on the durable side.
type diskOp struct {
	hs      *raftpb.HardState
	entries []*raftpb.Entry
	snap    *raftpb.Snapshot
	setSnap *raftpb.SnapshotMetadata
	compact uint64
}

func newDiskStore(deferSync bool) *diskStore {
	return &diskStore{MemoryLogStore: raftcore.NewMemoryLogStore(), durable: raftcore.NewMemoryLogStore(), deferSync: deferSync}
}

// Entries implements raftcore.LogStore.
func (d *diskStore) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if d.failReads >= failEntries {
		return nil, errDiskRead
	}
	return d.MemoryLogStore.Entries(lo, hi, maxSize)
}

// Term implements raftcore.LogStore.
func (d *diskStore) Term(i uint64) (uint64, error) {
	if d.failReads >= failEntriesAndTerms {
		return 0, errDiskRead
	}
	return d.MemoryLogStore.Term(i)
}

// FirstIndex implements raftcore.LogStore.
func (d *diskStore) FirstIndex() (uint64, error) {
	if d.failReads >= failAllReads {
		return 0, errDiskRead
	}
	return d.MemoryLogStore.FirstIndex()
}

// LastIndex implements raftcore.LogStore.
func (d *diskStore) LastIndex() (uint64, error) {
	if d.failReads >= failAllReads {
		return 0, errDiskRead
	}
	return d.MemoryLogStore.LastIndex()
}

// Save implements raftcore.LogStore.
func (d *diskStore) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if err := d.MemoryLogStore.Save(hs, entries, snap); err != nil {
		return err
	}
	op := diskOp{entries: entries}
	if hs != nil {
		op.hs = proto.Clone(hs).(*raftpb.HardState)
	}
	if snap != nil {
		op.snap = proto.Clone(snap).(*raftpb.Snapshot)
	}
	return d.write(op)
}

// SetSnapshot implements raftcore.LogStore.
func (d *diskStore) SetSnapshot(meta *raftpb.SnapshotMetadata) error {
	if err := d.MemoryLogStore.SetSnapshot(meta); err != nil {
		return err
	}
	return d.write(diskOp{setSnap: proto.Clone(meta).(*raftpb.SnapshotMetadata)})
}

// Compact implements raftcore.LogStore.
func (d *diskStore) Compact(index uint64) error {
	if err := d.MemoryLogStore.Compact(index); err != nil {
		return err
	}
	return d.write(diskOp{compact: index})
}

func (d *diskStore) write(op diskOp) error {
	if d.deferSync {
		d.unsynced = append(d.unsynced, op)
		return nil
	}
	return op.apply(d.durable)
}

// sync makes every change so far durable.
func (d *diskStore) sync() error {
	ops := d.unsynced
	d.unsynced = nil
	for _, op := range ops {
		if err := op.apply(d.durable); err != nil {
			return err
		}
	}
	return nil
}

func (op diskOp) apply(s *raftcore.MemoryLogStore) error {
	var err error
	switch {
	case op.setSnap != nil:
		err = s.SetSnapshot(op.setSnap)
	case op.compact > 0:
		err = s.Compact(op.compact)
	default:
		err = s.Save(op.hs, op.entries, op.snap)
	}
	// The engine tolerates these on the volatile side; replaying the same
	// change on the durable side meets them in the same cases.
	if errors.Is(err, raft.ErrSnapOutOfDate) || errors.Is(err, raft.ErrCompacted) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("sim: durable log: %w", err)
	}
	return nil
}

// crash returns the store as a restarted node finds it: the durable side
// only. Unsynced changes are gone; failing reads still fail.
func (d *diskStore) crash() (*diskStore, error) {
	live, err := cloneLog(d.durable)
	if err != nil {
		return nil, err
	}
	return &diskStore{MemoryLogStore: live, durable: d.durable, deferSync: d.deferSync, failReads: d.failReads}, nil
}

// cloneLog copies a MemoryLogStore through its public methods: the
// compaction point, the entries after it, the snapshot metadata and the
// HardState.
func cloneLog(src *raftcore.MemoryLogStore) (*raftcore.MemoryLogStore, error) {
	dst := raftcore.NewMemoryLogStore()
	hs, _, err := src.InitialState()
	if err != nil {
		return nil, err
	}
	snap, err := src.Snapshot()
	if err != nil {
		return nil, err
	}
	first, err := src.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := src.LastIndex()
	if err != nil {
		return nil, err
	}
	if base := first - 1; base > 0 {
		term, err := src.Term(base)
		if err != nil {
			return nil, err
		}
		md := &raftpb.SnapshotMetadata{Index: new(base), Term: new(term), ConfState: &raftpb.ConfState{}}
		if base == snap.GetMetadata().GetIndex() {
			md = snap.GetMetadata()
		}
		if err := dst.Save(nil, nil, &raftpb.Snapshot{Metadata: md}); err != nil {
			return nil, err
		}
	}
	ents, err := src.Entries(first, last+1, ^uint64(0))
	if err != nil {
		return nil, err
	}
	if err := dst.Save(hs, ents, nil); err != nil {
		return nil, err
	}
	if idx := snap.GetMetadata().GetIndex(); idx > first-1 {
		if err := dst.SetSnapshot(snap.GetMetadata()); err != nil {
			return nil, err
		}
	}
	return dst, nil
}
