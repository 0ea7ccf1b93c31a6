package codec

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func framed(payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		out = AppendFrame(out, p)
	}
	return out
}

func readAll(t *testing.T, fr *FrameReader) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for {
		p, err := fr.ReadFrame()
		if err != nil {
			return got, err
		}
		got = append(got, bytes.Clone(p))
	}
}

func TestFramesRoundTripThroughWriterAndReader(t *testing.T) {
	tests := []struct {
		name     string
		payloads [][]byte
	}{
		{"single small", [][]byte{[]byte("hello")}},
		{"empty payload", [][]byte{{}}},
		{"several sizes", [][]byte{{1}, bytes.Repeat([]byte{2}, 1000), {}, []byte("tail")}},
		{"payload above single-write limit", [][]byte{bytes.Repeat([]byte("x"), writeCopyLimit+1), {7}}},
		{"payload larger than first growth step", [][]byte{bytes.Repeat([]byte("abc"), readGrowStep)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream bytes.Buffer
			fw := NewFrameWriter(&stream)
			for _, p := range tt.payloads {
				if err := fw.WriteFrame(p); err != nil {
					t.Fatalf("WriteFrame: %v", err)
				}
			}
			if !bytes.Equal(stream.Bytes(), framed(tt.payloads...)) {
				t.Fatal("FrameWriter output differs from AppendFrame output")
			}
			// One byte per Read exercises every partial-read path.
			got, err := readAll(t, NewFrameReader(iotest.OneByteReader(&stream), 0))
			if err != io.EOF {
				t.Fatalf("final ReadFrame error = %v, want io.EOF", err)
			}
			if len(got) != len(tt.payloads) {
				t.Fatalf("read %d frames, want %d", len(got), len(tt.payloads))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.payloads[i]) {
					t.Errorf("frame %d differs: got %d bytes, want %d", i, len(got[i]), len(tt.payloads[i]))
				}
			}
		})
	}
}

func TestReadFrameReportsTruncationAtEveryOffset(t *testing.T) {
	stream := framed([]byte("first"), []byte("second frame"))
	firstEnd := FrameHeaderSize + len("first")
	for cut := 0; cut < len(stream); cut++ {
		fr := NewFrameReader(bytes.NewReader(stream[:cut]), 0)
		var err error
		for err == nil {
			_, err = fr.ReadFrame()
		}
		atBoundary := cut == 0 || cut == firstEnd
		switch {
		case atBoundary && err != io.EOF:
			t.Errorf("cut at %d (frame boundary): error %v, want io.EOF", cut, err)
		case !atBoundary && !errors.Is(err, io.ErrUnexpectedEOF):
			t.Errorf("cut at %d (inside a frame): error %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

func TestReadFrameDetectsEveryFlippedBit(t *testing.T) {
	payload := []byte("a payload whose every bit matters")
	stream := framed(payload)
	for bit := 0; bit < len(stream)*8; bit++ {
		corrupt := bytes.Clone(stream)
		corrupt[bit/8] ^= 1 << (bit % 8)
		got, err := NewFrameReader(bytes.NewReader(corrupt), 1024).ReadFrame()
		if err == nil {
			t.Fatalf("bit %d flipped: frame accepted with payload %q", bit, got)
		}
		// A flip in the length field may look like truncation or an oversized
		// frame; anywhere else it must be caught by the checksum.
		if bit >= 32 && !errors.Is(err, ErrChecksum) {
			t.Errorf("bit %d flipped: error %v, want ErrChecksum", bit, err)
		}
	}
}

func TestReadFrameRejectsOversizedLengthBeforeAllocating(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		length uint32
	}{
		{"one over the limit", 100, 101},
		{"maximum length field", 1 << 20, 0xFFFFFFFF},
		{"just over the default limit", 0, DefaultMaxFrameSize + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := []byte{byte(tt.length >> 24), byte(tt.length >> 16), byte(tt.length >> 8), byte(tt.length), 0, 0, 0, 0}
			fr := NewFrameReader(bytes.NewReader(header), tt.max)
			allocated := bytesAllocatedBy(func() {
				if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("error = %v, want ErrFrameTooLarge", err)
				}
			})
			if cap(fr.payload) != 0 {
				t.Errorf("payload buffer grew to %d bytes for a rejected frame", cap(fr.payload))
			}
			if allocated > 64<<10 {
				t.Errorf("rejecting a frame allocated %d bytes", allocated)
			}
		})
	}
}

// bytesAllocatedBy reports how many heap bytes fn allocated.
func bytesAllocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadFrameAcceptsPayloadOfExactlyMaxSize(t *testing.T) {
	payload := bytes.Repeat([]byte{9}, 100)
	got, err := NewFrameReader(bytes.NewReader(framed(payload)), 100).ReadFrame()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("ReadFrame = %d bytes, %v; want the 100-byte payload", len(got), err)
	}
}

func TestReadFrameGrowsWithArrivingDataNotAnnouncedLength(t *testing.T) {
	// The peer announces 8 MiB but sends only 10 bytes.
	stream := framed(make([]byte, 8<<20))[:FrameHeaderSize+10]
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want io.ErrUnexpectedEOF", err)
	}
	if cap(fr.payload) > readGrowStep {
		t.Errorf("buffer grew to %d bytes for 10 received bytes", cap(fr.payload))
	}
}

func TestReadFrameReusesItsBuffer(t *testing.T) {
	stream := framed(bytes.Repeat([]byte{1}, 512), bytes.Repeat([]byte{2}, 256), bytes.Repeat([]byte{3}, 512))
	fr := NewFrameReader(bytes.NewReader(stream), 0)
	first, _ := fr.ReadFrame()
	firstData := &first[0]
	_, _ = fr.ReadFrame()
	third, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if &third[0] != firstData {
		t.Error("ReadFrame allocated a new buffer for a frame that fits the previous one")
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteFramePassesOnWriterErrors(t *testing.T) {
	want := errors.New("disk full")
	for _, size := range []int{10, writeCopyLimit + 1} {
		if err := NewFrameWriter(failingWriter{want}).WriteFrame(make([]byte, size)); !errors.Is(err, want) {
			t.Errorf("%d-byte frame: error = %v, want %v", size, err, want)
		}
	}
}

func TestReadFramePassesOnReaderErrors(t *testing.T) {
	want := errors.New("connection reset")
	stream := framed([]byte("0123456789"))
	for _, cut := range []int{0, 4, FrameHeaderSize + 3} {
		r := io.MultiReader(bytes.NewReader(stream[:cut]), iotest.ErrReader(want))
		if _, err := NewFrameReader(r, 0).ReadFrame(); !errors.Is(err, want) {
			t.Errorf("error after %d bytes = %v, want %v", cut, err, want)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(framed([]byte("hello")))
	f.Add(framed([]byte{}, []byte("two"), bytes.Repeat([]byte{0xAB}, 300)))
	f.Add([]byte{0, 0, 0, 5, 1, 2, 3, 4, 'h'})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		fr := NewFrameReader(bytes.NewReader(data), limit)
		consumed := 0
		for {
			payload, err := fr.ReadFrame()
			if err != nil {
				if err == io.EOF && consumed != len(data) {
					t.Fatalf("io.EOF after %d of %d bytes", consumed, len(data))
				}
				return
			}
			if len(payload) > limit {
				t.Fatalf("payload of %d bytes exceeds limit %d", len(payload), limit)
			}
			// An accepted frame must be exactly what AppendFrame would write.
			frame := AppendFrame(nil, payload)
			if !bytes.Equal(frame, data[consumed:consumed+len(frame)]) {
				t.Fatal("accepted frame does not re-encode to its input bytes")
			}
			consumed += len(frame)
		}
	})
}
