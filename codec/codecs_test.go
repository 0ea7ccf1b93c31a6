package codec

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

type testCommand struct {
	Op    string
	Key   string
	Value []byte
	TTL   int64
	Tags  map[string]int
}

var sampleCommands = []testCommand{
	{},
	{Op: "put", Key: "k", Value: []byte("v")},
	{Op: "del", Key: "ünïcode ☃", TTL: -1, Tags: map[string]int{"a": 1, "b": -2}},
	{Op: "put", Key: "big", Value: bytes.Repeat([]byte{0xAB}, 5000)},
}

func TestCommandCodecsRoundTrip(t *testing.T) {
	codecs := map[string]Codec[testCommand]{
		"json": JSON[testCommand]{},
		"gob":  Gob[testCommand]{},
	}
	for name, c := range codecs {
		for i, cmd := range sampleCommands {
			data, err := c.Encode(cmd)
			if err != nil {
				t.Fatalf("%s: Encode(command %d): %v", name, i, err)
			}
			got, err := c.Decode(data)
			if err != nil {
				t.Fatalf("%s: Decode(command %d): %v", name, i, err)
			}
			if !equalCommands(got, cmd) {
				t.Errorf("%s: command %d decoded as %+v, want %+v", name, i, got, cmd)
			}
		}
	}
}

// equalCommands treats nil and empty slices and maps as equal: neither JSON
// nor gob keeps the difference.
func equalCommands(a, b testCommand) bool {
	if len(a.Value) == 0 && len(b.Value) == 0 {
		a.Value, b.Value = nil, nil
	}
	if len(a.Tags) == 0 && len(b.Tags) == 0 {
		a.Tags, b.Tags = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestCommandCodecsRejectMalformedInput(t *testing.T) {
	validJSON, _ := JSON[testCommand]{}.Encode(sampleCommands[2])
	validGob, _ := Gob[testCommand]{}.Encode(sampleCommands[2])
	tests := []struct {
		name   string
		decode func([]byte) error
		input  []byte
	}{
		{"json empty", decodeWith(JSON[testCommand]{}), nil},
		{"json truncated", decodeWith(JSON[testCommand]{}), validJSON[:len(validJSON)/2]},
		{"json trailing data", decodeWith(JSON[testCommand]{}), append(bytes.Clone(validJSON), "{}"...)},
		{"json wrong type", decodeWith(JSON[testCommand]{}), []byte(`{"TTL":"soon"}`)},
		{"json binary garbage", decodeWith(JSON[testCommand]{}), []byte{0xff, 0x00, 0x13}},
		{"gob empty", decodeWith(Gob[testCommand]{}), nil},
		{"gob truncated", decodeWith(Gob[testCommand]{}), validGob[:len(validGob)/2]},
		{"gob trailing data", decodeWith(Gob[testCommand]{}), append(bytes.Clone(validGob), 0x03, 0x04, 0x00, 0x02)},
		{"gob binary garbage", decodeWith(Gob[testCommand]{}), []byte("definitely not gob")},
		{"gob type mismatch", decodeWith(Gob[testCommand]{}), mustEncode(t, Gob[string]{}, "a string")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.input); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error = %v, want ErrMalformed", err)
			}
		})
	}
}

func decodeWith[C any](c Codec[C]) func([]byte) error {
	return func(data []byte) error {
		_, err := c.Decode(data)
		return err
	}
}

// fataler is what testing.TB and *rapid.T have in common.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustEncode[C any](t fataler, c Codec[C], cmd C) []byte {
	t.Helper()
	data, err := c.Encode(cmd)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestCommandCodecsReportUnencodableValues(t *testing.T) {
	if _, err := (JSON[func()]{}).Encode(func() {}); err == nil {
		t.Error("JSON encoded a func")
	}
	if _, err := (Gob[chan int]{}).Encode(make(chan int)); err == nil {
		t.Error("gob encoded a channel")
	}
	if _, err := (Gob[*testCommand]{}).Encode(nil); err == nil {
		t.Error("gob encoded a nil pointer")
	}
}

func TestBytesCodecSharesNoMemoryWithCallers(t *testing.T) {
	proposed := []byte("original")
	encoded, _ := Bytes{}.Encode(proposed)
	proposed[0] = 'X'
	if string(encoded) != "original" {
		t.Fatalf("Encode result changed with the caller's slice: %q", encoded)
	}
	decoded, _ := Bytes{}.Decode(encoded)
	encoded[0] = 'Y'
	if string(decoded) != "original" {
		t.Fatalf("Decode result changed with its input: %q", decoded)
	}
	if empty, _ := (Bytes{}).Encode(nil); empty == nil || len(empty) != 0 {
		t.Errorf("Encode(nil) = %#v, want an empty non-nil slice", empty)
	}
}

func TestCommandCodecsRoundTripArbitraryCommands(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cmd := testCommand{
			Op:    rapid.String().Draw(t, "op"),
			Key:   rapid.String().Draw(t, "key"),
			Value: rapid.SliceOf(rapid.Byte()).Draw(t, "value"),
			TTL:   rapid.Int64().Draw(t, "ttl"),
			Tags:  rapid.MapOf(rapid.String(), rapid.Int()).Draw(t, "tags"),
		}
		for name, c := range map[string]Codec[testCommand]{"json": JSON[testCommand]{}, "gob": Gob[testCommand]{}} {
			data, err := c.Encode(cmd)
			if err != nil {
				t.Fatalf("%s: Encode: %v", name, err)
			}
			got, err := c.Decode(data)
			if err != nil {
				t.Fatalf("%s: Decode: %v", name, err)
			}
			// JSON replaces invalid UTF-8 with U+FFFD, so compare what survives it.
			want := cmd
			if name == "json" {
				want = jsonNormalised(cmd)
			}
			if !equalCommands(got, want) {
				t.Fatalf("%s: decoded %+v, want %+v", name, got, want)
			}
		}
		raw := rapid.SliceOf(rapid.Byte()).Draw(t, "raw")
		got, err := Bytes{}.Decode(mustEncode(t, Codec[[]byte](Bytes{}), raw))
		if err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("Bytes round trip = %q, %v; want %q", got, err, raw)
		}
	})
}

// jsonNormalised replaces invalid UTF-8 the way encoding/json does.
func jsonNormalised(cmd testCommand) testCommand {
	cmd.Op = string([]rune(cmd.Op))
	cmd.Key = string([]rune(cmd.Key))
	if cmd.Tags != nil {
		tags := make(map[string]int, len(cmd.Tags))
		for k, v := range cmd.Tags {
			tags[string([]rune(k))] = v
		}
		cmd.Tags = tags
	}
	return cmd
}

func FuzzJSONDecode(f *testing.F) {
	for _, cmd := range sampleCommands {
		f.Add(mustEncode(f, JSON[testCommand]{}, cmd))
	}
	f.Add([]byte(`{"Tags":{"a":1,"a":2}}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommandCodec(t, JSON[testCommand]{}, data)
	})
}

func FuzzGobDecode(f *testing.F) {
	for _, cmd := range sampleCommands {
		f.Add(mustEncode(f, Gob[testCommand]{}, cmd))
	}
	f.Add(mustEncode(f, Gob[[]string]{}, []string{"a", "b"}))
	f.Add([]byte{0x03, 0x04, 0x00, 0x02})
	// A map count of 2^40 in place of 1, which must be refused before gob
	// sizes a map by it.
	honest := mustEncode(f, Gob[testCommand]{}, testCommand{Tags: map[string]int{"a": 1}})
	at := bytes.LastIndex(honest, []byte{1, 1, 'a'})
	forged := append(append(bytes.Clone(honest[:at]), 0xfb, 1, 0, 0, 0, 0), honest[at+1:]...)
	f.Add(growLastMessage(f, forged, 5))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCommandCodec(t, Gob[testCommand]{}, data)
	})
}

func FuzzBytesDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("payload"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Bytes{}.Decode(data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Decode = %q, %v; want the input back", got, err)
		}
	})
}

// fuzzCommandCodec checks what every decoder must do with arbitrary input:
// fail with ErrMalformed or return a command that survives a round trip.
func fuzzCommandCodec(t *testing.T, c Codec[testCommand], data []byte) {
	cmd, err := c.Decode(data)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
		}
		return
	}
	again, err := c.Encode(cmd)
	if err != nil {
		t.Fatalf("re-Encode of a decoded command: %v", err)
	}
	back, err := c.Decode(again)
	if err != nil {
		t.Fatalf("Decode of a re-encoded command: %v", err)
	}
	if !equalCommands(back, cmd) {
		t.Fatalf("round trip changed the command: %+v became %+v", cmd, back)
	}
}
