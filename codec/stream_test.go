package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type streamFormat struct {
	name      string
	newWriter func(io.Writer) (io.WriteCloser, error)
	newReader func(io.Reader) (io.ReadCloser, error)
}

var streamFormats = []streamFormat{
	{"zstd", NewZstdWriter, NewZstdReader},
	{"s2", NewS2Writer, NewS2Reader},
}

func compressStream(t *testing.T, f streamFormat, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := f.newWriter(&out)
	if err != nil {
		t.Fatalf("%s writer: %v", f.name, err)
	}
	// Uneven writes, as a snapshot writer produces them.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 100_003)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("%s Write: %v", f.name, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s Close: %v", f.name, err)
	}
	return out.Bytes()
}

func decompressStream(f streamFormat, r io.Reader) ([]byte, error) {
	zr, err := f.newReader(r)
	if err != nil {
		return nil, err
	}
	data, readErr := io.ReadAll(zr)
	if err := zr.Close(); err != nil {
		return nil, err
	}
	return data, readErr
}

func TestCompressionStreamsRoundTrip(t *testing.T) {
	payloads := map[string][]byte{
		"empty":           {},
		"small":           []byte("hello, snapshot"),
		"1 MiB text":      compressible(1 << 20),
		"256 KiB random":  incompressible(256<<10, 7),
		"over one window": compressible(8<<20 + 17),
	}
	for _, f := range streamFormats {
		for name, payload := range payloads {
			t.Run(f.name+"/"+name, func(t *testing.T) {
				// Twice, so the second pass runs on pooled encoders and decoders.
				for pass := range 2 {
					compressed := compressStream(t, f, payload)
					got, err := decompressStream(f, iotest.HalfReader(bytes.NewReader(compressed)))
					if err != nil {
						t.Fatalf("pass %d: %v", pass, err)
					}
					if !bytes.Equal(got, payload) {
						t.Fatalf("pass %d: got %d bytes back, want %d", pass, len(got), len(payload))
					}
				}
			})
		}
	}
}

func TestCompressionStreamsReportTruncation(t *testing.T) {
	for _, f := range streamFormats {
		compressed := compressStream(t, f, compressible(1<<20))
		for _, cut := range []int{0, 1, len(compressed) / 3, len(compressed) - 1} {
			_, err := decompressStream(f, bytes.NewReader(compressed[:cut]))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d of %d: error %v, want io.ErrUnexpectedEOF", f.name, cut, len(compressed), err)
			}
		}
	}
}

func TestCompressionStreamsRejectCorruption(t *testing.T) {
	for _, f := range streamFormats {
		compressed := compressStream(t, f, compressible(1<<20))
		for _, at := range []int{0, len(compressed) / 2, len(compressed) - 2} {
			corrupt := bytes.Clone(compressed)
			corrupt[at] ^= 0x10
			_, err := decompressStream(f, bytes.NewReader(corrupt))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s with byte %d flipped: error %v, want ErrMalformed", f.name, at, err)
			}
		}
	}
}

func TestCompressionStreamsPassOnSourceErrors(t *testing.T) {
	want := errors.New("disk read failed")
	for _, f := range streamFormats {
		compressed := compressStream(t, f, compressible(1<<20))
		src := io.MultiReader(bytes.NewReader(compressed[:len(compressed)/2]), iotest.ErrReader(want))
		if _, err := decompressStream(f, src); !errors.Is(err, want) {
			t.Errorf("%s: error %v, want the source's %v", f.name, err, want)
		}
	}
}

func TestZstdReaderBoundsWindowSize(t *testing.T) {
	// A frame header with no content size and the window given by its
	// descriptor byte, then one raw last block holding "A".
	frame := func(windowDescriptor byte) []byte {
		return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor, 0x09, 0x00, 0x00, 'A'}
	}
	const window8MiB, window128MiB = 13 << 3, 17 << 3
	got, err := decompressStream(streamFormats[0], bytes.NewReader(frame(window8MiB)))
	if err != nil || string(got) != "A" {
		t.Fatalf("8 MiB window: got %q, %v; want \"A\"", got, err)
	}
	if _, err := decompressStream(streamFormats[0], bytes.NewReader(frame(window128MiB))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("128 MiB window: error %v, want ErrMalformed", err)
	}
}

func TestCompressionStreamsFailAfterClose(t *testing.T) {
	for _, f := range streamFormats {
		w, err := f.newWriter(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("%s Write after Close: %v, want ErrClosed", f.name, err)
		}
		if err := w.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s second writer Close: %v, want ErrClosed", f.name, err)
		}
		r, err := f.newReader(bytes.NewReader(compressStream(t, f, []byte("x"))))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("%s Read after Close: %v, want ErrClosed", f.name, err)
		}
		if err := r.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s second reader Close: %v, want ErrClosed", f.name, err)
		}
	}
}

func TestCompressionStreamWritersPassOnSinkErrors(t *testing.T) {
	want := errors.New("disk full")
	for _, f := range streamFormats {
		w, err := f.newWriter(failingWriter{want})
		if err != nil {
			t.Fatal(err)
		}
		_, writeErr := w.Write(compressible(4 << 20))
		closeErr := w.Close()
		if !errors.Is(writeErr, want) && !errors.Is(closeErr, want) {
			t.Errorf("%s: Write error %v, Close error %v; want %v from one of them", f.name, writeErr, closeErr, want)
		}
	}
}

func TestS2ReaderDetectsStreamCutAtChunkBoundary(t *testing.T) {
	f := streamFormats[1]
	compressed := compressStream(t, f, compressible(3<<20))
	// The trailer is the last chunk: 4 bytes of chunk header and 8 of length.
	withoutTrailer := compressed[:len(compressed)-12]
	if _, err := decompressStream(f, bytes.NewReader(withoutTrailer)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stream without trailer: error %v, want io.ErrUnexpectedEOF", err)
	}
	wrongLength := bytes.Clone(compressed)
	wrongLength[len(wrongLength)-1] ^= 1
	if _, err := decompressStream(f, bytes.NewReader(wrongLength)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailer with wrong length: error %v, want ErrMalformed", err)
	}
	doubled := append(bytes.Clone(compressed), compressed[len(compressed)-12:]...)
	if _, err := decompressStream(f, bytes.NewReader(doubled)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("stream with two trailers: error %v, want ErrMalformed", err)
	}
}

func FuzzZstdReader(f *testing.F) {
	fuzzStreamReader(f, streamFormats[0])
}

func FuzzS2Reader(f *testing.F) {
	fuzzStreamReader(f, streamFormats[1])
}

// fuzzStreamReader checks that a stream reader fed arbitrary bytes either
// fails with this package's errors or yields data that round-trips.
func fuzzStreamReader(f *testing.F, format streamFormat) {
	for _, seed := range [][]byte{{}, []byte("snapshot"), compressible(3000)} {
		var out bytes.Buffer
		w, err := format.newWriter(&out)
		if err != nil {
			f.Fatal(err)
		}
		if _, err := w.Write(seed); err != nil {
			f.Fatal(err)
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(out.Bytes())
	}
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88, 0x09, 0x00, 0x00, 'A'})
	f.Add([]byte{0xff, 0x06, 0x00, 0x00, 'S', '2', 's', 'T', 'w', 'O'})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decompressStream(format, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v wraps neither ErrMalformed nor io.ErrUnexpectedEOF", err)
			}
			return
		}
		var again bytes.Buffer
		w, err := format.newWriter(&again)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(got); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back, err := decompressStream(format, &again)
		if err != nil || !bytes.Equal(back, got) {
			t.Fatalf("decoded data does not round trip: %v", err)
		}
	})
}
