package codec

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchCommand is sized by its Value so that its encodings land near the
// payload sizes the benchmarks name.
type benchCommand struct {
	Op    string
	Key   string
	Value string
}

func benchCommandOfSize(size int) benchCommand {
	const overhead = 40 // field names and framing of the JSON encoding
	return benchCommand{Op: "put", Key: "user/42", Value: string(compressible(max(size-overhead, 1)))}
}

func BenchmarkCodecs(b *testing.B) {
	zstdJSON, err := NewCompressed[benchCommand](JSON[benchCommand]{}, CompressionConfig{Algorithm: Zstd})
	if err != nil {
		b.Fatal(err)
	}
	s2JSON, err := NewCompressed[benchCommand](JSON[benchCommand]{}, CompressionConfig{Algorithm: S2})
	if err != nil {
		b.Fatal(err)
	}
	codecs := []struct {
		name  string
		codec Codec[benchCommand]
	}{
		{"json", JSON[benchCommand]{}},
		{"gob", Gob[benchCommand]{}},
		{"zstd+json", zstdJSON},
		{"s2+json", s2JSON},
	}
	for _, size := range []int{64, 4 << 10} {
		cmd := benchCommandOfSize(size)
		for _, c := range codecs {
			benchmarkCodec(b, fmt.Sprintf("%s/%dB", c.name, size), c.codec, cmd, size)
		}
		benchmarkCodec(b, fmt.Sprintf("bytes/%dB", size), Codec[[]byte](Bytes{}), compressible(size), size)
	}
}

// benchmarkCodec measures one codec; MB/s counts the command's nominal size,
// so that compressed and uncompressed codecs compare on the same work.
func benchmarkCodec[C any](b *testing.B, name string, c Codec[C], cmd C, size int) {
	data, err := c.Encode(cmd)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(name+"/encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			if _, err := c.Encode(cmd); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "encoded-bytes")
	})
	b.Run(name+"/decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		for b.Loop() {
			if _, err := c.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCompression4MiB compares zstd and s2 on a compressible 4 MiB blob,
// as one block (Compressed) and as a stream (snapshot writers and readers).
// MB/s counts uncompressed bytes; ratio is uncompressed / compressed.
func BenchmarkCompression4MiB(b *testing.B) {
	blob := compressible(4 << 20)
	for _, alg := range []Algorithm{Zstd, S2} {
		c, err := NewCompressed[[]byte](Bytes{}, CompressionConfig{Algorithm: alg})
		if err != nil {
			b.Fatal(err)
		}
		data, err := c.Encode(blob)
		if err != nil {
			b.Fatal(err)
		}
		ratio := float64(len(blob)) / float64(len(data))
		b.Run(alg.String()+"/block/compress", func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				if _, err := c.Encode(blob); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(ratio, "ratio")
		})
		b.Run(alg.String()+"/block/decompress", func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				if _, err := c.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, f := range streamFormats {
		var stream bytes.Buffer
		b.Run(f.name+"/stream/compress", func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				stream.Reset()
				w, err := f.newWriter(&stream)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(blob); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(blob))/float64(stream.Len()), "ratio")
		})
		compressed := bytes.Clone(stream.Bytes())
		b.Run(f.name+"/stream/decompress", func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				r, err := f.newReader(bytes.NewReader(compressed))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFraming measures framing one payload: checksum and header on the
// way out, header, bounds check, buffer reuse and checksum on the way in.
func BenchmarkFraming(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 64 << 10} {
		payload := compressible(size)
		b.Run(fmt.Sprintf("write/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			fw := NewFrameWriter(io.Discard)
			for b.Loop() {
				if err := fw.WriteFrame(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("read/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			frame := AppendFrame(nil, payload)
			src := bytes.NewReader(frame)
			fr := NewFrameReader(src, 0)
			for b.Loop() {
				src.Reset(frame)
				if _, err := fr.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
