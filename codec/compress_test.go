package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"pgregory.net/rapid"
)

func compressible(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "key-%06d=value-%d;", i%5000, i%7)
	}
	return b.Bytes()[:n]
}

func incompressible(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func newBytesCompressed(t testing.TB, cfg CompressionConfig) *Compressed[[]byte] {
	t.Helper()
	c, err := NewCompressed[[]byte](Bytes{}, cfg)
	if err != nil {
		t.Fatalf("NewCompressed: %v", err)
	}
	return c
}

func TestCompressedRoundTripsAndTagsEachPayload(t *testing.T) {
	tests := []struct {
		name    string
		cfg     CompressionConfig
		payload []byte
		wantTag byte
	}{
		{"zero config compresses big compressible payload with zstd", CompressionConfig{}, compressible(4096), byte(Zstd)},
		{"s2 compresses big compressible payload", CompressionConfig{Algorithm: S2}, compressible(4096), byte(S2)},
		{"payload below MinSize is stored", CompressionConfig{MinSize: 100}, compressible(99), tagStored},
		{"payload of exactly MinSize is compressed", CompressionConfig{MinSize: 100}, compressible(100), byte(Zstd)},
		{"incompressible zstd payload is stored", CompressionConfig{}, incompressible(4096, 1), tagStored},
		{"incompressible s2 payload is stored", CompressionConfig{Algorithm: S2}, incompressible(4096, 2), tagStored},
		{"empty payload is stored", CompressionConfig{MinSize: 1}, []byte{}, tagStored},
		{"zstd best level", CompressionConfig{Level: LevelBest}, compressible(4096), byte(Zstd)},
		{"zstd fastest level", CompressionConfig{Level: LevelFastest}, compressible(4096), byte(Zstd)},
		{"s2 better level", CompressionConfig{Algorithm: S2, Level: LevelBetter}, compressible(4096), byte(S2)},
		{"s2 best level", CompressionConfig{Algorithm: S2, Level: LevelBest}, compressible(4096), byte(S2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBytesCompressed(t, tt.cfg)
			data, err := c.Encode(tt.payload)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if data[0] != tt.wantTag {
				t.Fatalf("tag = %d, want %d", data[0], tt.wantTag)
			}
			if tt.wantTag != tagStored && len(data) >= len(tt.payload) {
				t.Errorf("compressed %d bytes to %d", len(tt.payload), len(data))
			}
			got, err := c.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, tt.payload) {
				t.Fatal("round trip changed the payload")
			}
		})
	}
}

func TestCompressedDecodesEitherAlgorithmWhateverItsConfig(t *testing.T) {
	payload := compressible(2048)
	zstdCodec := newBytesCompressed(t, CompressionConfig{Algorithm: Zstd})
	s2Codec := newBytesCompressed(t, CompressionConfig{Algorithm: S2})
	fromZstd := mustEncode(t, Codec[[]byte](zstdCodec), payload)
	fromS2 := mustEncode(t, Codec[[]byte](s2Codec), payload)
	for _, pair := range []struct {
		decoder *Compressed[[]byte]
		data    []byte
	}{{zstdCodec, fromS2}, {s2Codec, fromZstd}} {
		got, err := pair.decoder.Decode(pair.data)
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("decoding tag %d with a %s codec = %v", pair.data[0], pair.decoder.cfg.Algorithm, err)
		}
	}
}

func TestCompressedWrapsAnyCodec(t *testing.T) {
	c, err := NewCompressed[testCommand](JSON[testCommand]{}, CompressionConfig{MinSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	cmd := testCommand{Op: "put", Key: strings.Repeat("k", 200), Value: compressible(300)}
	data := mustEncode(t, Codec[testCommand](c), cmd)
	if data[0] != byte(Zstd) {
		t.Fatalf("tag = %d, want zstd", data[0])
	}
	got, err := c.Decode(data)
	if err != nil || !equalCommands(got, cmd) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if _, err := c.Decode([]byte{tagStored, '{'}); !errors.Is(err, ErrMalformed) {
		t.Errorf("inner codec error not passed on: %v", err)
	}
}

func TestCompressedRejectsMalformedInput(t *testing.T) {
	c := newBytesCompressed(t, CompressionConfig{})
	zstdData := mustEncode(t, Codec[[]byte](c), compressible(4096))
	s2Data := mustEncode(t, Codec[[]byte](newBytesCompressed(t, CompressionConfig{Algorithm: S2})), compressible(4096))
	flipped := func(data []byte, at int) []byte {
		out := bytes.Clone(data)
		out[at] ^= 0x40
		return out
	}
	tests := []struct {
		name  string
		input []byte
	}{
		{"empty", nil},
		{"unknown tag", []byte{9, 1, 2, 3}},
		{"zstd body is garbage", []byte{byte(Zstd), 1, 2, 3, 4, 5, 6, 7, 8}},
		{"zstd truncated", zstdData[:len(zstdData)/2]},
		{"zstd bit flip in checksum", flipped(zstdData, len(zstdData)-1)},
		{"zstd bit flip in body", flipped(zstdData, len(zstdData)/2)},
		{"s2 body is garbage", []byte{byte(S2), 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"s2 truncated", s2Data[:len(s2Data)/2]},
		{"s2 bit flip in body", flipped(s2Data, len(s2Data)/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(tt.input)
			if err == nil {
				// A flipped literal can decode to different bytes of the right
				// length: only zstd's checksum catches that, so require it there.
				if tt.input[0] == byte(Zstd) {
					t.Fatal("zstd accepted corrupt input")
				}
				if bytes.Equal(got, compressible(4096)) {
					t.Fatal("corruption went unnoticed and undone")
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestCompressedBoundsDecodedSize(t *testing.T) {
	const limit = 1 << 20
	bomb := make([]byte, 64<<20) // zeros: compresses about 10000:1
	zstdBomb := append([]byte{byte(Zstd)}, zstdEncodeAll(t, bomb)...)
	s2Bomb := append([]byte{byte(S2)}, s2.Encode(nil, bomb)...)
	// A zstd stream without a declared size must be stopped while decoding.
	var unsized bytes.Buffer
	enc, err := zstd.NewWriter(&unsized)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(bomb); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	zstdUnsized := append([]byte{byte(Zstd)}, unsized.Bytes()...)

	c := newBytesCompressed(t, CompressionConfig{MaxDecodedSize: limit})
	tests := []struct {
		name  string
		input []byte
	}{
		{"zstd with declared size", zstdBomb},
		{"zstd without declared size", zstdUnsized},
		{"s2", s2Bomb},
		{"stored payload over the limit", append([]byte{tagStored}, make([]byte, limit+1)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocated := bytesAllocatedBy(func() { _, err = c.Decode(tt.input) })
			if !errors.Is(err, ErrDecodedTooLarge) {
				t.Fatalf("error = %v, want ErrDecodedTooLarge", err)
			}
			if allocated > 8*limit {
				t.Errorf("rejecting the payload allocated %d MiB", allocated>>20)
			}
		})
	}
}

func zstdEncodeAll(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := sharedZstdEncoder(LevelDefault)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(data, nil)
}

func TestCompressedDecodesEverythingItEncodesUpToTheLimit(t *testing.T) {
	for _, limit := range []int{100, 1000, 4096, 1 << 20} {
		for _, alg := range []Algorithm{Zstd, S2} {
			for _, level := range []Level{LevelDefault, LevelBest} {
				name := fmt.Sprintf("%s level %d limit %d", alg, level, limit)
				c := newBytesCompressed(t, CompressionConfig{Algorithm: alg, Level: level, MinSize: 1, MaxDecodedSize: limit})
				if _, err := c.Encode(make([]byte, limit+1)); !errors.Is(err, ErrDecodedTooLarge) {
					t.Errorf("%s: Encode over the limit: %v, want ErrDecodedTooLarge", name, err)
				}
				data, err := c.Encode(compressible(limit))
				if err != nil {
					t.Fatalf("%s: Encode at the limit: %v", name, err)
				}
				if data[0] != byte(alg) {
					t.Errorf("%s: payload at the limit was not compressed (tag %d)", name, data[0])
				}
				if _, err := c.Decode(data); err != nil {
					t.Errorf("%s: Decode at the limit: %v", name, err)
				}
			}
		}
	}
}

func TestCompressedRejectsZstdOverASmallLimit(t *testing.T) {
	big := newBytesCompressed(t, CompressionConfig{})
	small := newBytesCompressed(t, CompressionConfig{MaxDecodedSize: 100})
	data := mustEncode(t, Codec[[]byte](big), compressible(1000))
	if _, err := small.Decode(data); !errors.Is(err, ErrDecodedTooLarge) {
		t.Fatalf("Decode of 1000 bytes with a 100-byte limit: %v, want ErrDecodedTooLarge", err)
	}
}

func TestCompressionConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     CompressionConfig
		wantErr string
	}{
		{"zero value", CompressionConfig{}, ""},
		{"explicit values", CompressionConfig{Algorithm: S2, Level: LevelBest, MinSize: 1, MaxDecodedSize: 1 << 30}, ""},
		{"unknown algorithm", CompressionConfig{Algorithm: 7}, "Algorithm 7 is unknown"},
		{"unknown level", CompressionConfig{Level: 9}, "Level 9 is unknown"},
		{"negative MinSize", CompressionConfig{MinSize: -1}, "MinSize -1 is negative"},
		{"negative MaxDecodedSize", CompressionConfig{MaxDecodedSize: -5}, "MaxDecodedSize -5 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := NewCompressed[[]byte](Bytes{}, tt.cfg); err != nil {
					t.Fatalf("NewCompressed: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig mentioning %q", err, tt.wantErr)
			}
			if _, err := NewCompressed[[]byte](Bytes{}, tt.cfg); err == nil {
				t.Fatal("NewCompressed accepted an invalid config")
			}
		})
	}
	if _, err := NewCompressed[[]byte](nil, CompressionConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Error("NewCompressed accepted a nil inner codec")
	}
}

func TestCompressedRoundTripsArbitraryPayloads(t *testing.T) {
	codecs := map[Algorithm]*Compressed[[]byte]{
		Zstd: newBytesCompressed(t, CompressionConfig{Algorithm: Zstd, MinSize: 16}),
		S2:   newBytesCompressed(t, CompressionConfig{Algorithm: S2, MinSize: 16}),
	}
	rapid.Check(t, func(t *rapid.T) {
		// Few distinct bytes, so that many payloads compress.
		payload := rapid.SliceOfN(rapid.ByteRange('a', 'd'), 0, 3000).Draw(t, "payload")
		for alg, c := range codecs {
			got, err := c.Decode(mustEncode(t, Codec[[]byte](c), payload))
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("%s round trip: %v", alg, err)
			}
		}
	})
}

func FuzzCompressedDecode(f *testing.F) {
	small := newBytesCompressed(f, CompressionConfig{MinSize: 1})
	s2c := newBytesCompressed(f, CompressionConfig{Algorithm: S2, MinSize: 1})
	for _, p := range [][]byte{{}, []byte("x"), compressible(600), incompressible(64, 3)} {
		f.Add(mustEncode(f, Codec[[]byte](small), p))
		f.Add(mustEncode(f, Codec[[]byte](s2c), p))
	}
	f.Add([]byte{byte(Zstd), 0x28, 0xb5, 0x2f, 0xfd})
	f.Add([]byte{byte(S2), 0xff, 0xff, 0xff, 0x7f})
	const limit = 1 << 20
	c := newBytesCompressed(f, CompressionConfig{MaxDecodedSize: limit})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := c.Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDecodedTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrDecodedTooLarge", err)
			}
			return
		}
		if len(got) > limit {
			t.Fatalf("decoded %d bytes, limit %d", len(got), limit)
		}
		back, err := c.Decode(mustEncode(t, Codec[[]byte](c), got))
		if err != nil || !bytes.Equal(back, got) {
			t.Fatalf("re-encoded payload does not round trip: %v", err)
		}
	})
}

func TestCompressedOutputKeepsLittleSpareCapacity(t *testing.T) {
	for _, alg := range []Algorithm{Zstd, S2} {
		c := newBytesCompressed(t, CompressionConfig{Algorithm: alg})
		data := mustEncode(t, Codec[[]byte](c), compressible(1<<20))
		if spare := cap(data) - len(data); spare > len(data)/4 {
			t.Errorf("%s: %d-byte encoding holds %d bytes of spare capacity", alg, len(data), spare)
		}
	}
}
