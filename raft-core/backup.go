package raftcore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// StateCopy is a consistent copy of the state machine, as OpenState returns
// it: the bytes StateMachine.Snapshot wrote at Meta.Index, streamed as the
// snapshot is written or from the SnapshotStore. The caller closes it.
type StateCopy struct {
	// Meta is the snapshot's index, term and membership.
	Meta SnapshotMeta
	// Members are the members at Meta.Index, sorted by id.
	Members []Peer
	// Learners are the ids among Members that are learners.
	Learners []uint64
	io.ReadCloser
}

// stateCopyAttempts bounds how often OpenState takes a snapshot again when
// the one it took was pruned before it could be opened (snapshots taken in
// quick succession).
const stateCopyAttempts = 3

// OpenState returns a copy of the state machine that reflects every write
// committed before OpenState was called: it runs a read index round (as
// Read does, so it works on any member), then takes a snapshot at the
// applied index, which is at least the read index. Applies pause while the
// snapshot is written to the local SnapshotStore, not while the caller
// reads the copy.
//
// The copy streams while the snapshot is written: the state machine's bytes
// reach the caller through a bounded buffer (at most 32 MiB) as the
// snapshot store receives them. When the buffer is full the snapshot waits
// for the caller, for at most a quarter of its writing time in all; a
// caller that falls further behind reads the rest from the committed
// snapshot. When the applied index already has a snapshot, the copy is
// read from it. Either way the copy's bytes are the state machine's own
// Snapshot output at Meta.Index; Read returns io.EOF only once that
// snapshot is committed, and the snapshot's failure (or ErrCorrupt for a
// stored snapshot that fails its checksum) otherwise. Meta.Size is 0 while
// the snapshot is being written. Close must not be called while a Read is
// in progress.
//
// Errors: ErrStopped, ErrRemoved, ErrBusy, ErrCorrupt, the context's error.
func (n *Node[C, R]) OpenState(ctx context.Context) (StateCopy, error) {
	if err := n.checkRunning(); err != nil {
		return StateCopy{}, err
	}
	if _, err := n.readIndex(ctx); err != nil {
		return StateCopy{}, err
	}
	var lastErr error
	for range stateCopyAttempts {
		live := newLiveCopy(n.r.stopc, n.r.stoppedErr)
		reply := make(chan snapshotReply, 1)
		n.r.applyq.push(applyJob{snap: reply, live: live})
		var res snapshotReply
		select {
		case <-live.started:
			return live.sc, nil
		case res = <-reply:
		case <-ctx.Done():
			live.Close()
			return StateCopy{}, ctx.Err()
		case <-n.r.stopc:
			return StateCopy{}, n.r.stoppedErr()
		}
		if live.hasStarted() {
			return live.sc, nil
		}
		if res.err != nil {
			return StateCopy{}, res.err
		}
		// The applied index had a snapshot already.
		sc, err := n.e.openState(res.meta)
		if !errors.Is(err, ErrSnapshotNotFound) {
			return sc, err
		}
		lastErr = err
	}
	return StateCopy{}, lastErr
}

// openState opens the stored snapshot described by meta and skips what
// the engine keeps before the state machine's bytes.
func (e *engine) openState(meta SnapshotMeta) (StateCopy, error) {
	stored, rc, err := e.ss.Open(meta.Index)
	if err != nil {
		return StateCopy{}, fmt.Errorf("raftcore: open snapshot %d: %w", meta.Index, err)
	}
	mem, err := readMembershipHeader(rc, stored.ConfState)
	if err == nil {
		_, err = readAppliedProposals(rc, e.proposals.window)
	}
	if err != nil {
		rc.Close()
		return StateCopy{}, fmt.Errorf("raftcore: snapshot %d: %w", meta.Index, err)
	}
	sc := StateCopy{Meta: stored, ReadCloser: rc}
	sc.Members, sc.Learners = stateCopyMembers(mem)
	return sc, nil
}

// stateCopyMembers returns mem's members sorted by id, and the learners
// among them.
func stateCopyMembers(mem *membership) (members []Peer, learners []uint64) {
	for id, p := range mem.peers {
		if mem.isMember(id) {
			members = append(members, p)
		}
		if mem.isLearner(id) {
			learners = append(learners, id)
		}
	}
	slices.SortFunc(members, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	slices.Sort(learners)
	return members, learners
}

// SeedState prepares the empty stores of a node of a new cluster to start
// from a copy of another cluster's state (a restored backup): it stores
// state (StateMachine.Snapshot bytes, as OpenState returns them) as the
// snapshot at index and term, with voters as the new cluster's membership,
// and records it in ls with a HardState committing it. Every node of the
// new cluster is seeded with the same arguments; Start then restores the
// state machine from the snapshot and does not bootstrap, and the nodes
// elect a leader in a later term. Members added without a key are bound on
// first use, as after a bootstrap.
//
// It returns an error wrapping ErrInvalidConfig for an index or term of 0,
// no voters, a voter without an address or a duplicate id, or stores that
// already hold a log or a snapshot. The caller closes the stores.
func SeedState(ls LogStore, ss SnapshotStore, index, term uint64, voters []Peer, state io.Reader) (SnapshotMeta, error) {
	if index == 0 || term == 0 {
		return SnapshotMeta{}, fmt.Errorf("%w: seed needs an index and a term, got %d and %d", ErrInvalidConfig, index, term)
	}
	if len(voters) == 0 {
		return SnapshotMeta{}, fmt.Errorf("%w: seed needs at least one voter", ErrInvalidConfig)
	}
	mem := newMembership()
	for _, p := range voters {
		if p.ID == 0 || p.Addr == "" {
			return SnapshotMeta{}, fmt.Errorf("%w: voter %v needs an id and an address", ErrInvalidConfig, p)
		}
		if _, dup := mem.peers[p.ID]; dup {
			return SnapshotMeta{}, fmt.Errorf("%w: voter %d listed twice", ErrInvalidConfig, p.ID)
		}
		mem.peers[p.ID] = p
		mem.confState.Voters = append(mem.confState.Voters, p.ID)
	}
	slices.Sort(mem.confState.Voters)
	if err := checkEmptyStores(ls, ss); err != nil {
		return SnapshotMeta{}, err
	}
	meta := SnapshotMeta{Index: index, Term: term, ConfState: proto.Clone(mem.confState).(*raftpb.ConfState)}
	sink, err := ss.Create(meta)
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("raftcore: create snapshot: %w", err)
	}
	cw := &countingWriter{w: sink}
	err = mem.writeHeader(cw)
	if err == nil {
		err = newAppliedProposals(engineDedupWindow()).writeTo(cw)
	}
	if err == nil {
		_, err = io.Copy(cw, state)
	}
	if err != nil {
		_ = sink.Abort()
		return SnapshotMeta{}, fmt.Errorf("raftcore: write seed snapshot: %w", err)
	}
	if err := sink.Commit(); err != nil {
		return SnapshotMeta{}, fmt.Errorf("raftcore: commit seed snapshot: %w", err)
	}
	meta.Size = cw.n
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: meta.ConfState}}
	hs := &raftpb.HardState{Term: new(term), Commit: new(index), Vote: new(uint64(0))}
	if err := ls.Save(hs, nil, snap); err != nil {
		return SnapshotMeta{}, fmt.Errorf("raftcore: record seed snapshot: %w", err)
	}
	return meta, nil
}

func checkEmptyStores(ls LogStore, ss SnapshotStore) error {
	last, err := ls.LastIndex()
	if err != nil {
		return fmt.Errorf("raftcore: read log: %w", err)
	}
	hs, _, err := ls.InitialState()
	if err != nil {
		return fmt.Errorf("raftcore: read log: %w", err)
	}
	snaps, err := ss.List()
	if err != nil {
		return fmt.Errorf("raftcore: list snapshots: %w", err)
	}
	if last != 0 || hs.GetTerm() != 0 || len(snaps) != 0 {
		return fmt.Errorf("%w: the stores already hold a log or snapshots; seed only a new node's empty stores", ErrInvalidConfig)
	}
	return nil
}
