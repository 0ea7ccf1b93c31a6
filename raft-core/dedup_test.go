package raftcore

import (
	"bytes"
	"testing"
)

func TestAppliedProposalsSkipsSecondCopies(t *testing.T) {
	a := newAppliedProposals()
	if !a.firstTime(1, 10) || a.firstTime(1, 10) {
		t.Fatal("second copy of (1, 10) not detected")
	}
	if !a.firstTime(2, 10) {
		t.Fatal("the same id from another node is a different proposal")
	}
	for id := uint64(100); id < 100+dedupWindow; id++ {
		a.firstTime(1, id)
	}
	if !a.firstTime(1, 10) {
		t.Fatal("an id older than the window is still remembered: the window is unbounded")
	}
}

func TestAppliedProposalsSurviveSnapshots(t *testing.T) {
	a := newAppliedProposals()
	for id := uint64(1); id <= dedupWindow+5; id++ {
		a.firstTime(7, id)
	}
	a.firstTime(3, 42)
	var buf bytes.Buffer
	if err := a.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := readAppliedProposals(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b.firstTime(3, 42) || b.firstTime(7, dedupWindow+5) || b.firstTime(7, 6) {
		t.Fatal("restored window forgot an id it held")
	}
	if !b.firstTime(7, 5) {
		t.Fatal("restored window holds an id that had left it")
	}
}

func FuzzReadAppliedProposals(f *testing.F) {
	a := newAppliedProposals()
	a.firstTime(1, 2)
	var buf bytes.Buffer
	_ = a.writeTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = readAppliedProposals(bytes.NewReader(data))
	})
}
