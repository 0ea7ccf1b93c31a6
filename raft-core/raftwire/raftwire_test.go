package raftwire

import (
	"bytes"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

func optUint(t *rapid.T, label string) *uint64 {
	if !rapid.Bool().Draw(t, label+"?") {
		return nil
	}
	// Small and large values: varints of every length.
	v := rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, label)
	return &v
}

func optBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+"?") {
	case 0:
		return nil
	case 1:
		return []byte{} // present and empty
	}
	return rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, label)
}

func genEntry(t *rapid.T, label string) *raftpb.Entry {
	e := &raftpb.Entry{Term: optUint(t, label+".term"), Index: optUint(t, label+".index"), Data: optBytes(t, label+".data")}
	if rapid.Bool().Draw(t, label+".type?") {
		e.Type = raftpb.EntryType(rapid.IntRange(0, int(maxEntryType)).Draw(t, label+".type")).Enum()
	}
	return e
}

func genMessage(t *rapid.T, depth int) *raftpb.Message {
	m := &raftpb.Message{
		To: optUint(t, "to"), From: optUint(t, "from"), Term: optUint(t, "term"), LogTerm: optUint(t, "logTerm"),
		Index: optUint(t, "index"), Commit: optUint(t, "commit"), Vote: optUint(t, "vote"),
		RejectHint: optUint(t, "rejectHint"), Context: optBytes(t, "context"),
	}
	if rapid.Bool().Draw(t, "type?") {
		m.Type = raftpb.MessageType(rapid.IntRange(0, int(maxMessageType)).Draw(t, "type")).Enum()
	}
	if rapid.Bool().Draw(t, "reject?") {
		m.Reject = new(rapid.Bool().Draw(t, "reject"))
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "entries") {
		m.Entries = append(m.Entries, genEntry(t, "entry"+string(rune('0'+i))))
	}
	// The fields the generic library handles: a snapshot and responses.
	if rapid.IntRange(0, 9).Draw(t, "snapshot?") == 0 {
		m.Snapshot = &raftpb.Snapshot{Data: optBytes(t, "snap.data"), Metadata: &raftpb.SnapshotMetadata{
			Index: optUint(t, "snap.index"), Term: optUint(t, "snap.term"),
			ConfState: &raftpb.ConfState{Voters: rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, "voters")},
		}}
	}
	if depth == 0 && rapid.IntRange(0, 9).Draw(t, "responses?") == 0 {
		m.Responses = []*raftpb.Message{genMessage(t, 1)}
	}
	return m
}

// TestMessagesMatchTheProtobufLibrary: for any message, the encoding is the
// library's byte for byte, the size is proto.Size, and decoding gives back a
// message proto.Equal to it.
func TestMessagesMatchTheProtobufLibrary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage(t, 0)
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendMessage([]byte("prefix"), m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("encoding differs from the library's:\n got %x\nwant %x", got[len("prefix"):], want)
		}
		if n := SizeMessage(m); n != len(want) {
			t.Fatalf("SizeMessage = %d, proto.Size = %d", n, len(want))
		}
		back, err := UnmarshalMessage(want)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, m) {
			t.Fatalf("decoded %v, want %v", back, m)
		}
	})
}

func TestEntriesMatchTheProtobufLibrary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genEntry(t, "e")
		want, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendEntry(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoding differs from the library's:\n got %x\nwant %x", got, want)
		}
		if n := SizeEntry(e); n != len(want) {
			t.Fatalf("SizeEntry = %d, proto.Size = %d", n, len(want))
		}
		back, err := UnmarshalEntry(want)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(back, e) {
			t.Fatalf("decoded %v, want %v", back, e)
		}
	})
}

// sameAsLibrary fails unless decoding b gives what proto.Unmarshal gives:
// both an error, or messages that are proto.Equal (unknown fields included).
func sameAsLibrary(t interface{ Fatalf(string, ...any) }, b []byte) {
	want := new(raftpb.Message)
	wantErr := proto.Unmarshal(b, want)
	got, err := UnmarshalMessage(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("input %x: error %v, the library's %v", b, err, wantErr)
	}
	if err == nil && !proto.Equal(got, want) {
		t.Fatalf("input %x: decoded %v, the library %v", b, got, want)
	}
	wantE := new(raftpb.Entry)
	wantErr = proto.Unmarshal(b, wantE)
	gotE, err := UnmarshalEntry(b)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("input %x as entry: error %v, the library's %v", b, err, wantErr)
	}
	if err == nil && !proto.Equal(gotE, wantE) {
		t.Fatalf("input %x as entry: decoded %v, the library %v", b, gotE, wantE)
	}
}

// TestDamagedInputDecodesLikeTheLibrary mutates valid encodings (flipped
// bytes, truncation, unknown fields, unknown enum values, repeated fields)
// and compares with the library.
func TestDamagedInputDecodesLikeTheLibrary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := proto.Marshal(genMessage(t, 0))
		if err != nil {
			t.Fatal(err)
		}
		switch rapid.IntRange(0, 5).Draw(t, "damage") {
		case 0:
			if len(b) > 0 {
				i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
				b[i] ^= byte(rapid.IntRange(1, 255).Draw(t, "xor"))
			}
		case 1:
			b = b[:rapid.IntRange(0, len(b)).Draw(t, "cut")]
		case 2: // an unknown field
			b = protowire.AppendTag(b, protowire.Number(rapid.IntRange(15, 40).Draw(t, "num")), protowire.VarintType)
			b = protowire.AppendVarint(b, 7)
		case 3: // an enum value this raft does not know
			b = protowire.AppendTag(b, msgType, protowire.VarintType)
			b = protowire.AppendVarint(b, rapid.Uint64Range(maxMessageType+1, 1<<40).Draw(t, "enum"))
		case 4: // a scalar again: the last one wins
			b = protowire.AppendTag(b, msgTerm, protowire.VarintType)
			b = protowire.AppendVarint(b, rapid.Uint64().Draw(t, "term"))
		case 5: // an entry with an unknown entry type
			ent := protowire.AppendTag(nil, entryType, protowire.VarintType)
			ent = protowire.AppendVarint(ent, maxEntryType+1)
			b = protowire.AppendTag(b, msgEntries, protowire.BytesType)
			b = protowire.AppendBytes(b, ent)
		}
		sameAsLibrary(t, b)
	})
}

func FuzzUnmarshalMessage(f *testing.F) {
	for _, m := range []*raftpb.Message{
		{Type: raftpb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Entries: []*raftpb.Entry{{Term: new(uint64(3)), Index: new(uint64(9)), Data: []byte("x")}}},
		{Type: raftpb.MsgAppResp.Enum(), Reject: new(true), RejectHint: new(uint64(4))},
		{Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(5))}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameAsLibrary(t, b) })
}

// TestDecodedDataIsNotShared: the entries' data slices are cut from one
// buffer; appending to one must not write into the next.
func TestDecodedDataIsNotShared(t *testing.T) {
	m := &raftpb.Message{Type: raftpb.MsgApp.Enum(), Entries: []*raftpb.Entry{{Data: []byte("aaaa")}, {Data: []byte("bbbb")}}}
	b, _ := proto.Marshal(m)
	got, err := UnmarshalMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got.Entries[0].Data, 'X', 'X')
	if string(got.Entries[1].Data) != "bbbb" {
		t.Fatalf("appending to entry 0 changed entry 1: %q", got.Entries[1].Data)
	}
	b[len(b)-1] = 'Z' // the input is not aliased either
	if string(got.Entries[1].Data) != "bbbb" {
		t.Fatalf("decoded data aliases the input: %q", got.Entries[1].Data)
	}
}

// appendMessage is a typical replication message: 64 entries of 64 bytes.
func appendMessage() *raftpb.Message {
	m := &raftpb.Message{Type: raftpb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7)),
		LogTerm: new(uint64(7)), Index: new(uint64(100_000)), Commit: new(uint64(99_990))}
	for i := range 64 {
		m.Entries = append(m.Entries, &raftpb.Entry{Term: new(uint64(7)), Index: new(uint64(100_001 + i)),
			Type: raftpb.EntryNormal.Enum(), Data: bytes.Repeat([]byte{byte(i)}, 64)})
	}
	return m
}

func BenchmarkEncode(b *testing.B) {
	m := appendMessage()
	buf := make([]byte, 0, 16<<10)
	b.Run("raftwire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = SizeMessage(m)
			buf, _ = AppendMessage(buf[:0], m)
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = proto.Size(m)
			buf, _ = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf[:0], m)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	enc, _ := proto.Marshal(appendMessage())
	b.Run("raftwire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := UnmarshalMessage(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(enc, new(raftpb.Message)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
