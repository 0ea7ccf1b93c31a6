package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// errInvalid stands for "any error": the contract requires a failure but does
// not name the error.
var errInvalid = errors.New("storetest: invalid operation")

// logModel is the reference the suite compares stores against: the etcd
// MemoryStorage semantics, written as plainly as possible.
type logModel struct {
	hardState  *raftpb.HardState // nil until a non-empty one is saved
	snapshot   *raftpb.SnapshotMetadata
	dummyIndex uint64 // FirstIndex-1
	dummyTerm  uint64
	entries    []*raftpb.Entry // entries[i].Index == dummyIndex+1+i
}

func newLogModel() *logModel {
	return &logModel{snapshot: raftpb.EnsureSnapshotMetadata(nil)}
}

func (m *logModel) firstIndex() uint64 { return m.dummyIndex + 1 }
func (m *logModel) lastIndex() uint64  { return m.dummyIndex + uint64(len(m.entries)) }

func (m *logModel) term(i uint64) uint64 {
	if i == m.dummyIndex {
		return m.dummyTerm
	}
	return m.entries[i-m.dummyIndex-1].GetTerm()
}

// save applies a Save and returns the error class the store must return:
// nil, raft.ErrSnapOutOfDate or errInvalid. A failed save changes nothing.
func (m *logModel) save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	dummyIndex, dummyTerm, last := m.dummyIndex, m.dummyTerm, m.lastIndex()
	if !raft.IsEmptySnap(snap) {
		if snap.GetMetadata().GetIndex() <= m.snapshot.GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		dummyIndex, dummyTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
		last = dummyIndex
	}
	if len(entries) > 0 {
		first := entries[0].GetIndex()
		for i, e := range entries {
			if e.GetIndex() != first+uint64(i) {
				return errInvalid
			}
		}
		if first > last+1 {
			return errInvalid
		}
	}
	// As in etcd's MemoryStorage, entries at or below the compaction point are
	// already covered by a snapshot and are skipped.
	for len(entries) > 0 && entries[0].GetIndex() <= dummyIndex {
		entries = entries[1:]
	}
	if !raft.IsEmptySnap(snap) {
		m.snapshot = cloneSnapshotMetadata(snap.GetMetadata())
		m.dummyIndex, m.dummyTerm = dummyIndex, dummyTerm
		m.entries = nil
	}
	if len(entries) > 0 {
		keep := entries[0].GetIndex() - m.dummyIndex - 1
		m.entries = m.entries[:keep:keep]
		for _, e := range entries {
			m.entries = append(m.entries, cloneEntry(e))
		}
	}
	if !raft.IsEmptyHardState(hs) {
		m.hardState = cloneHardState(hs)
	}
	return nil
}

func (m *logModel) setSnapshot(meta *raftpb.SnapshotMetadata) error {
	if meta.GetIndex() <= m.snapshot.GetIndex() {
		return raft.ErrSnapOutOfDate
	}
	if meta.GetIndex() > m.lastIndex() {
		return raft.ErrUnavailable
	}
	m.snapshot = cloneSnapshotMetadata(meta)
	return nil
}

func (m *logModel) compact(index uint64) error {
	if index <= m.dummyIndex {
		return raft.ErrCompacted
	}
	if index > m.snapshot.GetIndex() || index > m.lastIndex() {
		return errInvalid
	}
	m.dummyTerm = m.term(index)
	m.entries = slices.Clone(m.entries[index-m.dummyIndex:])
	m.dummyIndex = index
	return nil
}

// checkError fails the test unless got is of the class want.
func checkError(t testing.TB, op string, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("%s: unexpected error %v", op, got)
	case want == errInvalid && got == nil:
		t.Fatalf("%s: succeeded, want an error", op)
	case want != nil && want != errInvalid && !errors.Is(got, want):
		t.Fatalf("%s: error %v, want %v", op, got, want)
	}
}

// checkMatches compares every observable of store with the model.
func checkMatches(t testing.TB, store raftcore.LogStore, m *logModel) {
	t.Helper()
	hs, cs, err := store.InitialState()
	if err != nil {
		t.Fatalf("InitialState: %v", err)
	}
	if cs == nil {
		t.Fatalf("InitialState returned a nil ConfState")
	}
	if m.hardState == nil {
		if !raft.IsEmptyHardState(hs) {
			t.Fatalf("InitialState hard state = %v, want empty", hs)
		}
	} else if !hardStateEqual(hs, m.hardState) {
		t.Fatalf("InitialState hard state = %v, want %v", hs, m.hardState)
	}
	if !confStateEqual(cs, m.snapshot.GetConfState()) {
		t.Fatalf("InitialState conf state = %v, want %v", cs, m.snapshot.GetConfState())
	}

	snap, err := store.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if snap.GetMetadata() == nil {
		t.Fatalf("Snapshot returned nil metadata")
	}
	if !snapshotMetadataEqual(snap.GetMetadata(), m.snapshot) {
		t.Fatalf("Snapshot metadata = %v, want %v", snap.GetMetadata(), m.snapshot)
	}
	if len(snap.GetData()) != 0 {
		t.Fatalf("Snapshot returned %d data bytes, want metadata only", len(snap.GetData()))
	}

	first, err := store.FirstIndex()
	if err != nil || first != m.firstIndex() {
		t.Fatalf("FirstIndex = %d, %v; want %d", first, err, m.firstIndex())
	}
	last, err := store.LastIndex()
	if err != nil || last != m.lastIndex() {
		t.Fatalf("LastIndex = %d, %v; want %d", last, err, m.lastIndex())
	}
	for i := m.dummyIndex; i <= m.lastIndex(); i++ {
		term, err := store.Term(i)
		if err != nil || term != m.term(i) {
			t.Fatalf("Term(%d) = %d, %v; want %d", i, term, err, m.term(i))
		}
	}
	if m.dummyIndex > 0 {
		if _, err := store.Term(m.dummyIndex - 1); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Term(%d) below the dummy entry: error %v, want ErrCompacted", m.dummyIndex-1, err)
		}
		if _, err := store.Entries(m.dummyIndex, m.lastIndex()+1, noLimit); !errors.Is(err, raft.ErrCompacted) {
			t.Fatalf("Entries(%d, ...) at the dummy entry: error %v, want ErrCompacted", m.dummyIndex, err)
		}
	}
	if _, err := store.Term(m.lastIndex() + 1); !errors.Is(err, raft.ErrUnavailable) {
		t.Fatalf("Term(%d) beyond LastIndex: error %v, want ErrUnavailable", m.lastIndex()+1, err)
	}
	if len(m.entries) == 0 {
		if _, err := store.Entries(m.firstIndex(), m.firstIndex()+1, noLimit); !errors.Is(err, raft.ErrUnavailable) {
			t.Fatalf("Entries of an empty log: error %v, want ErrUnavailable", err)
		}
		return
	}
	got, err := store.Entries(m.firstIndex(), m.lastIndex()+1, noLimit)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", m.firstIndex(), m.lastIndex()+1, err)
	}
	if err := entriesEqual(got, m.entries); err != nil {
		t.Fatalf("Entries(%d, %d): %v", m.firstIndex(), m.lastIndex()+1, err)
	}
}

const noLimit = ^uint64(0)

func entriesEqual(got, want []*raftpb.Entry) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if !entryEqual(got[i], want[i]) {
			return fmt.Errorf("entry %d = %s, want %s", i, describeEntry(got[i]), describeEntry(want[i]))
		}
	}
	return nil
}

func entryEqual(a, b *raftpb.Entry) bool {
	return a.GetIndex() == b.GetIndex() && a.GetTerm() == b.GetTerm() &&
		a.GetType() == b.GetType() && bytes.Equal(a.GetData(), b.GetData())
}

func describeEntry(e *raftpb.Entry) string {
	return fmt.Sprintf("{index %d term %d type %v data %q}", e.GetIndex(), e.GetTerm(), e.GetType(), e.GetData())
}

func hardStateEqual(a, b *raftpb.HardState) bool {
	return a.GetTerm() == b.GetTerm() && a.GetVote() == b.GetVote() && a.GetCommit() == b.GetCommit()
}

func confStateEqual(a, b *raftpb.ConfState) bool {
	return slices.Equal(a.GetVoters(), b.GetVoters()) &&
		slices.Equal(a.GetLearners(), b.GetLearners()) &&
		slices.Equal(a.GetVotersOutgoing(), b.GetVotersOutgoing()) &&
		slices.Equal(a.GetLearnersNext(), b.GetLearnersNext()) &&
		a.GetAutoLeave() == b.GetAutoLeave()
}

func snapshotMetadataEqual(a, b *raftpb.SnapshotMetadata) bool {
	return a.GetIndex() == b.GetIndex() && a.GetTerm() == b.GetTerm() &&
		confStateEqual(a.GetConfState(), b.GetConfState())
}

func cloneEntry(e *raftpb.Entry) *raftpb.Entry {
	return &raftpb.Entry{
		Index: new(e.GetIndex()),
		Term:  new(e.GetTerm()),
		Type:  new(e.GetType()),
		Data:  slices.Clone(e.GetData()),
	}
}

func cloneHardState(hs *raftpb.HardState) *raftpb.HardState {
	return &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(hs.GetCommit())}
}

func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	return &raftpb.ConfState{
		Voters:         slices.Clone(cs.GetVoters()),
		Learners:       slices.Clone(cs.GetLearners()),
		VotersOutgoing: slices.Clone(cs.GetVotersOutgoing()),
		LearnersNext:   slices.Clone(cs.GetLearnersNext()),
		AutoLeave:      new(cs.GetAutoLeave()),
	}
}

func cloneSnapshotMetadata(m *raftpb.SnapshotMetadata) *raftpb.SnapshotMetadata {
	return &raftpb.SnapshotMetadata{
		Index:     new(m.GetIndex()),
		Term:      new(m.GetTerm()),
		ConfState: cloneConfState(m.GetConfState()),
	}
}

// makeEntries returns entries lo..hi (inclusive) at term, with data that names
// index and term so that a misplaced entry is visible in a failure message.
func makeEntries(lo, hi, term uint64) []*raftpb.Entry {
	var entries []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		entries = append(entries, &raftpb.Entry{
			Index: new(i),
			Term:  new(term),
			Type:  new(raftpb.EntryNormal),
			Data:  fmt.Appendf(nil, "entry %d at term %d", i, term),
		})
	}
	return entries
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func snapshotMeta(index, term uint64, voters ...uint64) *raftpb.SnapshotMetadata {
	return &raftpb.SnapshotMetadata{
		Index:     new(index),
		Term:      new(term),
		ConfState: &raftpb.ConfState{Voters: voters, AutoLeave: new(false)},
	}
}

func snapshot(index, term uint64, voters ...uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{Metadata: snapshotMeta(index, term, voters...)}
}

// encodedSize is the protobuf encoding size of e, the measure raft's maxSize
// arguments use. Every field number of Entry is below 16, so each tag is one
// byte.
func encodedSize(e *raftpb.Entry) uint64 {
	var size uint64
	if e.Term != nil {
		size += 1 + varintSize(e.GetTerm())
	}
	if e.Index != nil {
		size += 1 + varintSize(e.GetIndex())
	}
	if e.Type != nil {
		size += 1 + varintSize(uint64(e.GetType()))
	}
	if e.Data != nil {
		size += 1 + varintSize(uint64(len(e.Data))) + uint64(len(e.Data))
	}
	return size
}

func varintSize(v uint64) uint64 {
	n := uint64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
