package codec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

type gobLeaf struct {
	A uint64
	B string
	M map[bool]float32
}

type gobRich struct {
	Name        string
	Count       int64
	Ratio       float64
	Flags       []bool
	Blob        []byte
	Fixed       [3]uint16
	Bytes4      [4]byte
	Tags        map[string]int
	Nested      map[int32]gobLeaf
	Leaves      []gobLeaf
	Ptr         *gobLeaf
	Matrix      [][]int8
	When        time.Time
	Any         any
	Complex     complex128
	Small       uint8
	MapOfSlices map[string][]string
	Grid        [2][2]gobLeaf
}

func init() {
	gob.Register(gobLeaf{})
	gob.Register(&gobRich{})
}

func drawLeaf(t *rapid.T, label string) gobLeaf {
	return gobLeaf{
		A: rapid.Uint64().Draw(t, label+".A"),
		B: rapid.String().Draw(t, label+".B"),
		M: rapid.MapOfN(rapid.Bool(), rapid.Float32(), 0, 2).Draw(t, label+".M"),
	}
}

func drawRich(t *rapid.T, depth int) gobRich {
	leaves := rapid.IntRange(0, 3).Draw(t, "leaves")
	r := gobRich{
		Name:        rapid.String().Draw(t, "name"),
		Count:       rapid.Int64().Draw(t, "count"),
		Ratio:       rapid.Float64().Draw(t, "ratio"),
		Flags:       rapid.SliceOf(rapid.Bool()).Draw(t, "flags"),
		Blob:        rapid.SliceOf(rapid.Byte()).Draw(t, "blob"),
		Fixed:       [3]uint16{rapid.Uint16().Draw(t, "f0"), rapid.Uint16().Draw(t, "f1"), 0},
		Bytes4:      [4]byte{rapid.Byte().Draw(t, "b0"), 0xff, 0x80, rapid.Byte().Draw(t, "b3")},
		Tags:        rapid.MapOf(rapid.String(), rapid.Int()).Draw(t, "tags"),
		Nested:      map[int32]gobLeaf{},
		Matrix:      rapid.SliceOfN(rapid.SliceOf(rapid.Int8()), 0, 3).Draw(t, "matrix"),
		When:        time.Unix(rapid.Int64Range(0, 1<<40).Draw(t, "when"), 0).UTC(),
		Complex:     complex(rapid.Float64().Draw(t, "re"), -1),
		Small:       rapid.Uint8().Draw(t, "small"),
		MapOfSlices: rapid.MapOfN(rapid.String(), rapid.SliceOf(rapid.String()), 0, 3).Draw(t, "mapOfSlices"),
	}
	for i := range leaves {
		r.Leaves = append(r.Leaves, drawLeaf(t, "leaf"))
		r.Nested[int32(i)-1] = drawLeaf(t, "nested")
	}
	if rapid.Bool().Draw(t, "hasPtr") {
		leaf := drawLeaf(t, "ptr")
		r.Ptr = &leaf
	}
	r.Grid[1][0] = drawLeaf(t, "grid")
	switch rapid.IntRange(0, 3).Draw(t, "any") {
	case 1:
		r.Any = drawLeaf(t, "any")
	case 2:
		r.Any = rapid.String().Draw(t, "anyString")
	case 3:
		if depth < 2 {
			inner := drawRich(t, depth+1)
			r.Any = &inner
		}
	}
	return r
}

func TestCheckGobAcceptsEverythingGobEncodes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		value := drawRich(t, 0)
		data, err := Gob[gobRich]{}.Encode(value)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		// Not only accepted: walked to the end, so every map count was checked.
		if err := walkGob(data); err != nil {
			t.Fatalf("walkGob did not check gob's own encoding through: %v", err)
		}
		if _, err := (Gob[gobRich]{}).Decode(data); err != nil {
			t.Fatalf("Decode: %v", err)
		}
	})
}

func TestCheckGobAcceptsTopLevelValuesOfEveryKind(t *testing.T) {
	values := []any{
		0, -1, math.MaxInt64, uint(math.MaxUint64), 3.5, true, "text", []byte{0, 0xff},
		complex(1, 2), []string{"a"}, [2]int{1, -1}, map[string]bool{"x": true},
		map[struct{ X, Y int }]int{{1, 2}: 3}, time.Unix(0, 0), &gobLeaf{B: "p"}, gobLeaf{},
	}
	for _, v := range values {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatalf("encode %T: %v", v, err)
		}
		if err := walkGob(buf.Bytes()); err != nil {
			t.Errorf("walkGob did not check an encoded %T through: %v", v, err)
		}
	}
}

// mapBomb encodes a one-entry map field and rewrites its count to n.
func mapBomb(t *testing.T, n uint64) []byte {
	t.Helper()
	type withMap struct {
		Pad string
		M   map[string]int
	}
	data, err := Gob[withMap]{}.Encode(withMap{Pad: "xyzzy", M: map[string]int{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte{1, 1, 'a'}) // count 1, then the key "a"
	if at < 0 {
		t.Fatal("map count not found in encoding")
	}
	count := []byte{0xf8, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := range 8 {
		count[8-i] = byte(n >> (8 * i))
	}
	out := append(append(bytes.Clone(data[:at]), count...), data[at+1:]...)
	return growLastMessage(t, out, len(count)-1)
}

// growLastMessage adds extra to the length of the last gob message in data,
// whose body has already grown by extra bytes.
func growLastMessage(t fataler, data []byte, extra int) []byte {
	t.Helper()
	off := 0
	for {
		if data[off] >= 0x80 {
			t.Fatalf("test encoding has a multi-byte message length")
		}
		next := off + 1 + int(data[off])
		if next+extra == len(data) {
			break
		}
		off = next
	}
	out := bytes.Clone(data)
	out[off] += byte(extra)
	return out
}

func TestGobDecodeRejectsMapCountsTheInputCannotHold(t *testing.T) {
	for _, n := range []uint64{1 << 26, 1 << 40, math.MaxUint64} {
		bomb := mapBomb(t, n)
		var err error
		allocated := bytesAllocatedBy(func() {
			_, err = Gob[struct {
				Pad string
				M   map[string]int
			}]{}.Decode(bomb)
		})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("count %d: error %v, want ErrMalformed", n, err)
		}
		if allocated > 1<<20 {
			t.Errorf("count %d: rejecting the input allocated %d bytes", n, allocated)
		}
	}
	// The same rewrite with an honest count still decodes.
	honest := mapBomb(t, 1)
	if _, err := (Gob[struct {
		Pad string
		M   map[string]int
	}]{}).Decode(honest); err != nil {
		t.Fatalf("count 1: %v", err)
	}
}

type gobChain struct {
	Next *gobChain
	V    int
}

func TestGobDecodeBoundsNestingDepth(t *testing.T) {
	chain := func(n int) *gobChain {
		var head *gobChain
		for i := range n {
			head = &gobChain{Next: head, V: i + 1}
		}
		return head
	}
	shallow, err := Gob[*gobChain]{}.Encode(chain(maxGobDepth / 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Gob[*gobChain]{}).Decode(shallow); err != nil {
		t.Fatalf("chain of %d: %v", maxGobDepth/2, err)
	}
	deep, err := Gob[*gobChain]{}.Encode(chain(maxGobDepth + 10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Gob[*gobChain]{}).Decode(deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("chain of %d: error %v, want ErrMalformed", maxGobDepth+10, err)
	}
}

func TestGobUintMatchesTheDocumentedEncoding(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint64
		ok   bool
	}{
		{[]byte{0x00}, 0, true},
		{[]byte{0x07}, 7, true},
		{[]byte{0xfe, 0x01, 0x00}, 256, true},
		{[]byte{0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, math.MaxUint64, true},
		{[]byte{0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, false}, // 9 bytes
		{[]byte{0x80}, 0, false},
		{[]byte{0xfe, 0x01}, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		b := tt.in
		got, ok := gobUint(&b)
		if got != tt.want || ok != tt.ok {
			t.Errorf("gobUint(% x) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

type gobOnlyInInterface struct{ Q map[string]int }

type gobHolder struct{ Any any }

func TestCheckGobFollowsTypesDefinedInsideInterfaces(t *testing.T) {
	gob.Register(gobOnlyInInterface{})
	gob.Register(gobHolder{})
	// gobOnlyInInterface and its map type are first described inside the
	// inner interface value, in the middle of the message.
	value := gobHolder{Any: gobHolder{Any: gobOnlyInInterface{Q: map[string]int{"a": 1}}}}
	data, err := Gob[gobHolder]{}.Encode(value)
	if err != nil {
		t.Fatal(err)
	}
	if err := walkGob(data); err != nil {
		t.Fatalf("walkGob did not check the encoding through: %v", err)
	}
	at := bytes.LastIndex(data, []byte{1, 1, 'a'})
	bomb := append(append(bytes.Clone(data[:at]), 0xfc, 0x10, 0, 0, 0), data[at+1:]...)
	if err := walkGob(bomb); !errors.Is(err, ErrMalformed) {
		t.Fatalf("map count of 2^28 inside nested interfaces: %v, want ErrMalformed", err)
	}
}

func TestGobDecodeRejectsMapBombBehindAnOverlongSlice(t *testing.T) {
	type withMaps struct{ L []map[string]int }
	data, err := Gob[withMaps]{}.Encode(withMaps{L: []map[string]int{{"a": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.LastIndex(data, []byte{1, 1, 'a'}) // map count 1, then the key "a"
	bomb := bytes.Clone(data[:at])
	bomb[at-1] = 100 // slice count: more elements than the input holds
	bomb = append(append(bomb, 0xfb, 1, 0, 0, 0, 0), data[at+1:]...)
	bomb = growLastMessage(t, bomb, 5)
	if _, err := (Gob[withMaps]{}).Decode(bomb); !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v, want ErrMalformed", err)
	}
	if err := walkGob(bomb); err == nil || errors.Is(err, errGobUnchecked) {
		t.Fatalf("walkGob = %v, want the map count rejected", err)
	}
}
