package transporttest

import (
	"io"
	"math/rand/v2"

	"go.etcd.io/raft/v3/raftpb"
)

// NewMessage returns a MsgApp from `from` to `to` whose Index is index and
// whose single entry carries payload. Tests identify messages by From and
// Index.
func NewMessage(from, to, index uint64, payload []byte) *raftpb.Message {
	return &raftpb.Message{
		Type:    new(raftpb.MsgApp),
		To:      new(to),
		From:    new(from),
		Term:    new(uint64(3)),
		LogTerm: new(uint64(3)),
		Index:   new(index),
		Commit:  new(index),
		Entries: []*raftpb.Entry{{
			Term:  new(uint64(3)),
			Index: new(index + 1),
			Type:  new(raftpb.EntryNormal),
			Data:  payload,
		}},
	}
}

// FullMessage returns a message from `from` to `to` with every field that
// travels between nodes set to a value derived from seed, so that a transport
// dropping or mangling any field is caught by proto.Equal.
func FullMessage(from, to, seed uint64) *raftpb.Message {
	rng := rand.New(rand.NewPCG(seed, from<<32|to))
	entries := make([]*raftpb.Entry, 1+rng.IntN(4))
	for i := range entries {
		entries[i] = &raftpb.Entry{
			Term:  new(rng.Uint64()),
			Index: new(rng.Uint64()),
			Type:  new(raftpb.EntryType(rng.IntN(3))),
			Data:  RandomBytes(rng.Uint64(), 1+rng.IntN(300)),
		}
	}
	return &raftpb.Message{
		Type:       new(raftpb.MsgAppResp),
		To:         new(to),
		From:       new(from),
		Term:       new(rng.Uint64()),
		LogTerm:    new(rng.Uint64()),
		Index:      new(rng.Uint64()),
		Entries:    entries,
		Commit:     new(rng.Uint64()),
		Vote:       new(rng.Uint64()),
		Reject:     new(true),
		RejectHint: new(rng.Uint64()),
		Context:    RandomBytes(rng.Uint64(), 16),
	}
}

// NewSnapshotMessage returns the MsgSnap raft would produce for a snapshot at
// index, carrying metadata only.
func NewSnapshotMessage(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: new(raftpb.MsgSnap),
		To:   new(to),
		From: new(from),
		Term: new(uint64(5)),
		Snapshot: &raftpb.Snapshot{
			Metadata: &raftpb.SnapshotMetadata{
				ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
				Index:     new(index),
				Term:      new(uint64(4)),
			},
		},
	}
}

// RandomBytes returns n pseudo-random bytes determined by seed.
func RandomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24),
		byte(seed >> 32), byte(seed >> 40), byte(seed >> 48), byte(seed >> 56)})
	_, _ = rng.Read(b)
	return b
}

// OpaqueReader hides everything but Read from r, so that a transport cannot
// learn the size of a body in advance or take a shortcut through WriterTo.
func OpaqueReader(r io.Reader) io.Reader { return opaqueReader{r} }

type opaqueReader struct{ r io.Reader }

func (o opaqueReader) Read(p []byte) (int, error) { return o.r.Read(p) }
