package sim

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"go.etcd.io/raft/v3/raftpb"
)

func op(client int, in kvInput, call, ret int64, out kvOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func TestKVModelJudgesHistories(t *testing.T) {
	put := func(v string) kvInput { return kvInput{Op: opPut, Key: "k", Value: v} }
	get := kvInput{Op: opGet, Key: "k"}
	unknown := kvOutput{Unknown: true}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"read after acknowledged write sees it", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(1, get, 20, 30, kvOutput{Value: "a"}),
		}, true},
		{"stale read after acknowledged write", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(1, get, 20, 30, kvOutput{Value: ""}),
		}, false},
		{"unknown write may have happened", []porcupine.Operation{
			op(0, put("a"), 0, unknownReturn, unknown),
			op(1, get, 20, 30, kvOutput{Value: "a"}),
		}, true},
		{"unknown write may not have happened", []porcupine.Operation{
			op(0, put("a"), 0, unknownReturn, unknown),
			op(1, get, 20, 30, kvOutput{Value: ""}),
		}, true},
		{"lost acknowledged write", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(0, put("b"), 20, 30, kvOutput{OK: true}),
			op(1, get, 40, 50, kvOutput{Value: "a"}),
		}, false},
		{"cas that swapped", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(1, kvInput{Op: opCAS, Key: "k", Expect: "a", Value: "b"}, 20, 30, kvOutput{OK: true}),
			op(1, get, 40, 50, kvOutput{Value: "b"}),
		}, true},
		{"cas that claims a swap it could not make", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(1, kvInput{Op: opCAS, Key: "k", Expect: "x", Value: "b"}, 20, 30, kvOutput{OK: true}),
		}, false},
		{"delete reports the key it removed", []porcupine.Operation{
			op(0, put("a"), 0, 10, kvOutput{OK: true}),
			op(1, kvInput{Op: opDelete, Key: "k"}, 20, 30, kvOutput{OK: true, Found: false}),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(kvModel, tt.history); got != tt.want {
				t.Fatalf("linearizable = %v, want %v\n%s", got, tt.want, describeHistory(tt.history))
			}
		})
	}
}

func TestLogsMatchFindsDivergence(t *testing.T) {
	a, b := newDiskStore(false), newDiskStore(false)
	_ = a.Save(nil, entries(1, 5, 1), nil)
	_ = b.Save(nil, entries(1, 5, 1), nil)
	if err := logsMatch(a, b); err != nil {
		t.Fatalf("equal logs: %v", err)
	}
	// Same index and term, different data, below a matching entry.
	bad := entries(1, 5, 1)
	bad[2] = &raftpb.Entry{Index: new(uint64(3)), Term: new(uint64(1)), Data: []byte("other")}
	c := newDiskStore(false)
	_ = c.Save(nil, bad, nil)
	if err := logsMatch(a, c); err == nil {
		t.Fatal("diverged logs passed")
	}
	// A suffix from a later term that conflicts is allowed (not yet truncated).
	d := newDiskStore(false)
	_ = d.Save(nil, append(entries(1, 3, 1), entries(4, 6, 2)...), nil)
	if err := logsMatch(a, d); err != nil {
		t.Fatalf("conflicting uncommitted suffix: %v", err)
	}
}

func TestParsersRejectBadInput(t *testing.T) {
	if n, err := ParseNemeses("all"); err != nil || len(n) != len(AllNemeses) {
		t.Errorf("ParseNemeses(all) = %v, %v", n, err)
	}
	if n, err := ParseNemeses("crash, partition,crash"); err != nil || len(n) != 2 {
		t.Errorf("ParseNemeses(crash, partition,crash) = %v, %v", n, err)
	}
	if n, err := ParseNemeses("none"); err != nil || len(n) != 0 {
		t.Errorf("ParseNemeses(none) = %v, %v", n, err)
	}
	if first, last, err := ParseSeeds("1-500"); err != nil || first != 1 || last != 500 {
		t.Errorf("ParseSeeds(1-500) = %d, %d, %v", first, last, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := ParseNemeses("earthquake"); return err },
		func() error { _, err := ParseBugs("off-by-one"); return err },
		func() error { _, _, err := ParseSeeds("9-3"); return err },
		func() error { _, _, err := ParseSeeds("x"); return err },
		func() error { return Config{Nodes: 10}.Validate() },
		func() error { return Config{Clients: -1}.Validate() },
		func() error { return Config{Nemeses: []Nemesis{"flood"}}.Validate() },
	} {
		if err := bad(); err == nil {
			t.Error("bad input accepted")
		}
	}
}
