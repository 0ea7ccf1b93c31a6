package sim

import (
	"errors"
	"math"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func entries(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, &raftpb.Entry{Index: new(i), Term: new(term), Data: []byte{byte(i)}})
	}
	return out
}

func lastIndex(t *testing.T, d *diskStore) uint64 {
	t.Helper()
	last, err := d.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func TestCrashKeepsOnlySyncedWrites(t *testing.T) {
	tests := []struct {
		name      string
		deferSync bool
		sync      bool
		wantLast  uint64
		wantTerm  uint64
	}{
		{name: "durable on return", wantLast: 5, wantTerm: 2},
		{name: "deferred and synced", deferSync: true, sync: true, wantLast: 5, wantTerm: 2},
		{name: "deferred and lost", deferSync: true, wantLast: 3, wantTerm: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDiskStore(tt.deferSync)
			if err := d.Save(&raftpb.HardState{Term: new(uint64(1))}, entries(1, 3, 1), nil); err != nil {
				t.Fatal(err)
			}
			if err := d.sync(); err != nil {
				t.Fatal(err)
			}
			if err := d.Save(&raftpb.HardState{Term: new(uint64(2)), Vote: new(uint64(2))}, entries(4, 5, 2), nil); err != nil {
				t.Fatal(err)
			}
			if lastIndex(t, d) != 5 {
				t.Fatalf("before the crash the log ends at %d, want 5", lastIndex(t, d))
			}
			if tt.sync {
				if err := d.sync(); err != nil {
					t.Fatal(err)
				}
			}
			after, err := d.crash()
			if err != nil {
				t.Fatal(err)
			}
			hs, _, _ := after.InitialState()
			if lastIndex(t, after) != tt.wantLast || hs.GetTerm() != tt.wantTerm {
				t.Fatalf("after the crash: last index %d term %d, want %d and %d", lastIndex(t, after), hs.GetTerm(), tt.wantLast, tt.wantTerm)
			}
		})
	}
}

func TestCrashKeepsCompactionPointAndSnapshot(t *testing.T) {
	d := newDiskStore(false)
	if err := d.Save(&raftpb.HardState{Term: new(uint64(3)), Commit: new(uint64(10))}, entries(1, 10, 3), nil); err != nil {
		t.Fatal(err)
	}
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	if err := d.SetSnapshot(&raftpb.SnapshotMetadata{Index: new(uint64(8)), Term: new(uint64(3)), ConfState: cs}); err != nil {
		t.Fatal(err)
	}
	if err := d.Compact(6); err != nil {
		t.Fatal(err)
	}
	after, err := d.crash()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := after.FirstIndex()
	snap, _ := after.Snapshot()
	hs, _, _ := after.InitialState()
	if first != 7 || lastIndex(t, after) != 10 || snap.GetMetadata().GetIndex() != 8 || hs.GetCommit() != 10 {
		t.Fatalf("after the crash: first %d last %d snapshot %d commit %d, want 7, 10, 8, 10", first, lastIndex(t, after), snap.GetMetadata().GetIndex(), hs.GetCommit())
	}
	if got := snap.GetMetadata().GetConfState().GetVoters(); len(got) != 3 {
		t.Fatalf("snapshot voters %v, want [1 2 3]", got)
	}
	if err := logsMatch(d, after); err != nil {
		t.Fatal(err)
	}
}

// A disk that fails reads (NemesisReadError) fails the reads of its fault
// and no others, keeps failing them after a crash, and loses nothing: once
// its reads succeed again, the log is all there.
func TestFailingReadsLeaveTheLogIntact(t *testing.T) {
	tests := []struct {
		fault                      readFault
		entries, term, first, last bool // which reads fail
	}{
		{fault: failEntries, entries: true},
		{fault: failEntriesAndTerms, entries: true, term: true},
		{fault: failAllReads, entries: true, term: true, first: true, last: true},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			d := newDiskStore(false)
			if err := d.Save(&raftpb.HardState{Term: new(uint64(1))}, entries(1, 5, 1), nil); err != nil {
				t.Fatal(err)
			}
			d.failReads = tt.fault
			if err := d.Save(nil, entries(6, 7, 1), nil); err != nil {
				t.Fatalf("a write while reads fail: %v", err)
			}
			after, err := d.crash()
			if err != nil {
				t.Fatal(err)
			}
			for _, disk := range []*diskStore{d, after} {
				_, errEntries := disk.Entries(1, 8, math.MaxUint64)
				_, errTerm := disk.Term(3)
				_, errFirst := disk.FirstIndex()
				_, errLast := disk.LastIndex()
				for _, read := range []struct {
					name  string
					err   error
					fails bool
				}{{"Entries", errEntries, tt.entries}, {"Term", errTerm, tt.term}, {"FirstIndex", errFirst, tt.first}, {"LastIndex", errLast, tt.last}} {
					if read.fails != errors.Is(read.err, errDiskRead) || (!read.fails && read.err != nil) {
						t.Errorf("%s: %v, want failing=%v", read.name, read.err, read.fails)
					}
				}
			}
			after.failReads = readsOK
			if lastIndex(t, after) != 7 {
				t.Fatalf("once readable, the log ends at %d, want 7", lastIndex(t, after))
			}
			if err := logsMatch(d.MemoryLogStore, after); err != nil {
				t.Fatal(err)
			}
		})
	}
}
