package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jangada-io/jangada/codec"
)

type setCommand struct {
	Key   string
	Value string
}

func ExampleJSON() {
	c := codec.JSON[setCommand]{}
	data, err := c.Encode(setCommand{Key: "color", Value: "blue"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))

	cmd, err := c.Decode(data)
	fmt.Println(cmd.Key, cmd.Value, err)

	_, err = c.Decode([]byte("{not json"))
	fmt.Println(errors.Is(err, codec.ErrMalformed))
	// Output:
	// {"Key":"color","Value":"blue"}
	// color blue <nil>
	// true
}

func ExampleGob() {
	c := codec.Gob[setCommand]{}
	data, err := c.Encode(setCommand{Key: "size", Value: "large"})
	if err != nil {
		panic(err)
	}
	cmd, err := c.Decode(data)
	fmt.Println(cmd.Key, cmd.Value, err)
	// Output: size large <nil>
}

func ExampleBytes() {
	c := codec.Bytes{}
	proposed := []byte("raw command")
	data, _ := c.Encode(proposed)
	proposed[0] = 'R' // the encoding is a copy: changing the original is safe
	cmd, _ := c.Decode(data)
	fmt.Println(string(cmd))
	// Output: raw command
}

func ExampleNewCompressed() {
	c, err := codec.NewCompressed[setCommand](codec.JSON[setCommand]{}, codec.CompressionConfig{
		Algorithm: codec.S2,
		MinSize:   256, // smaller commands are stored uncompressed
	})
	if err != nil {
		panic(err)
	}
	small, _ := c.Encode(setCommand{Key: "k", Value: "v"})
	large, _ := c.Encode(setCommand{Key: "k", Value: strings.Repeat("abc", 1000)})
	fmt.Println("small tag:", small[0], "size:", len(small))
	fmt.Println("large tag:", codec.Algorithm(large[0]), "smaller than 3000 bytes:", len(large) < 3000)

	cmd, err := c.Decode(large)
	fmt.Println(len(cmd.Value), err)
	// Output:
	// small tag: 0 size: 24
	// large tag: s2 smaller than 3000 bytes: true
	// 3000 <nil>
}

func ExampleNewZstdWriter() {
	var stored bytes.Buffer
	w, err := codec.NewZstdWriter(&stored)
	if err != nil {
		panic(err)
	}
	snapshot := strings.Repeat("key=value\n", 10000)
	if _, err := io.WriteString(w, snapshot); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	fmt.Println("compressed below 1%:", stored.Len() < len(snapshot)/100)

	r, err := codec.NewZstdReader(&stored)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	restored, err := io.ReadAll(r)
	fmt.Println(len(restored) == len(snapshot), err)
	// Output:
	// compressed below 1%: true
	// true <nil>
}

func ExampleNewS2Writer() {
	var stored bytes.Buffer
	w, _ := codec.NewS2Writer(&stored)
	_, _ = io.WriteString(w, strings.Repeat("s2 is fast. ", 1000))
	_ = w.Close()

	// A stream cut short is reported, not mistaken for a shorter snapshot.
	r, _ := codec.NewS2Reader(bytes.NewReader(stored.Bytes()[:stored.Len()-1]))
	defer r.Close()
	_, err := io.ReadAll(r)
	fmt.Println(errors.Is(err, io.ErrUnexpectedEOF))
	// Output: true
}

func ExampleFrameWriter() {
	var conn bytes.Buffer // stands in for a network stream
	fw := codec.NewFrameWriter(&conn)
	for _, msg := range []string{"first", "second"} {
		if err := fw.WriteFrame([]byte(msg)); err != nil {
			panic(err)
		}
	}

	fr := codec.NewFrameReader(&conn, 1<<20)
	for {
		payload, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(string(payload))
	}
	// Output:
	// first
	// second
}

func ExampleAppendFrame() {
	// Batch several frames into one buffer and send them with a single Write.
	var batch []byte
	for _, msg := range []string{"a", "bb", "ccc"} {
		batch = codec.AppendFrame(batch, []byte(msg))
	}
	fmt.Println(len(batch) == 3*codec.FrameHeaderSize+6)

	// A corrupted byte is caught by the frame's checksum.
	batch[codec.FrameHeaderSize] ^= 0xff
	_, err := codec.NewFrameReader(bytes.NewReader(batch), 0).ReadFrame()
	fmt.Println(errors.Is(err, codec.ErrChecksum))
	// Output:
	// true
	// true
}
