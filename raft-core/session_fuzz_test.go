package raftcore_test

import (
	"bytes"
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

func FuzzSessionCodecDecode(f *testing.F) {
	codec := raftcore.SessionCodec[int64]{Inner: clustertest.JSONCodec[int64]{}}
	for _, cmd := range []counterCmd{
		{Op: raftcore.SessionRegister, Time: 5},
		{Op: raftcore.SessionCall, Session: 9, Seq: 3, Acked: 2, Cmd: 42},
		{Op: raftcore.SessionKeyed, Key: "k", Cmd: 1},
	} {
		b, _ := codec.Encode(cmd)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := codec.Decode(data)
		if err != nil {
			return
		}
		again, err := codec.Encode(cmd)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", cmd, err)
		}
		if back, err := codec.Decode(again); err != nil || back != cmd {
			t.Fatalf("re-encoded %+v decodes as %+v, %v", cmd, back, err)
		}
	})
}

func FuzzSessionsRestore(f *testing.F) {
	s, _ := newCounterSessions(raftcore.SessionConfig{})
	id := s.Apply(1, counterCmd{Op: raftcore.SessionRegister}).Session
	s.Apply(2, counterCmd{Op: raftcore.SessionCall, Session: id, Seq: 1, Cmd: 7})
	s.Apply(3, counterCmd{Op: raftcore.SessionKeyed, Key: "k", Cmd: 3})
	var snap bytes.Buffer
	_ = s.Snapshot(&snap)
	f.Add(snap.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _ := newCounterSessions(raftcore.SessionConfig{})
		// Whatever the bytes, Restore returns (an error for bytes Snapshot
		// did not write) and never panics; what it accepts snapshots again.
		if r.Restore(bytes.NewReader(data)) == nil {
			var out bytes.Buffer
			if err := r.Snapshot(&out); err != nil {
				t.Fatal(err)
			}
		}
	})
}
