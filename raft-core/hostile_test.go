package raftcore_test

import (
	"testing"

	raftcore "github.com/jangada-io/jangada/raft-core"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzMessageFromMember feeds arbitrary raft messages, as a member holding
// valid credentials could send them, into the leader and a follower of a
// running three-node cluster. The engine must refuse what raft cannot take
// and survive the rest: no panic, and the cluster still commits a write.
//
// The input is a marshalled raftpb.Message; the first byte also chooses the
// receiver and whether To and From are made plausible, so the fuzzer gets
// past the first checks often.
func FuzzMessageFromMember(f *testing.F) {
	seeds := []*raftpb.Message{
		{Type: raftpb.MsgReadIndex.Enum(), From: new(uint64(2)), To: new(uint64(1))},
		{Type: raftpb.MsgReadIndex.Enum(), From: new(uint64(1)), To: new(uint64(1))},
		{Type: raftpb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(3)), Term: new(uint64(2)), Commit: new(uint64(1 << 40))},
		{Type: raftpb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(3)), Term: new(uint64(2)), Index: new(uint64(3)),
			Entries: []*raftpb.Entry{{Index: new(uint64(9)), Term: new(uint64(2))}}},
		{Type: raftpb.MsgProp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Entries: []*raftpb.Entry{{Data: []byte("x")}}},
		{Type: raftpb.MsgTimeoutNow.Enum(), From: new(uint64(2)), To: new(uint64(3)), Term: new(uint64(2))},
		{Type: raftpb.MsgAppResp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(2)), Index: new(uint64(1 << 30))},
		{Type: raftpb.MsgStorageAppend.Enum(), From: new(uint64(2)), To: new(uint64(1))},
		{Type: raftpb.MsgVote.Enum(), From: new(uint64(2)), To: new(uint64(3)), Term: new(uint64(9)), LogTerm: new(uint64(9)), Index: new(uint64(1 << 20))},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), b)
	}
	f.Fuzz(func(t *testing.T, shape byte, data []byte) {
		var m raftpb.Message
		if proto.Unmarshal(data, &m) != nil {
			return
		}
		h := newHarness(t, []uint64{1, 2, 3}, "", nil)
		h.elect(1)
		h.put(1, "k", "v")
		to := uint64(1 + shape%3)
		if shape&4 != 0 {
			m.To = new(to)
		}
		if shape&8 != 0 {
			m.From = new(uint64(1 + (shape/16)%3))
		}
		if shape&128 != 0 && m.Term != nil {
			m.Term = new(h.nodes[to].s.Term())
		}
		target := h.nodes[m.GetTo()]
		if target == nil {
			target = h.nodes[to]
		}
		_ = target.s.Deliver(&m)
		h.settle()
		// A member may legitimately disrupt (a vote for a higher term
		// deposes the leader): the cluster must recover within a few
		// election timeouts.
		for range 500 {
			h.tick()
			for _, id := range h.ids() {
				if h.nodes[id].s.Role() == raftcore.RoleLeader {
					h.put(id, "k", "after")
					return
				}
			}
		}
		t.Fatal("no leader 500 ticks after the message")
	})
}
