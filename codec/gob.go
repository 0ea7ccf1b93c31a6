package codec

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// Gob encodes commands with encoding/gob. Its zero value is ready to use:
// codec.Gob[MyCommand]{}. It is safe for concurrent use.
//
// Every encoding is self-describing (it carries gob's type description), so
// each command decodes on its own, in any order, at the cost of some tens of
// bytes per command and of compiling the description on every Decode, which
// dominates for small commands: in BenchmarkCodecs, JSON decodes a 64-byte
// command more than ten times faster. Concrete types stored in interface fields must be
// registered with gob.Register on every node.
//
// encoding/gob sizes a map from the element count in its input before it
// reads the elements, so a forged count of a few bytes could demand gigabytes.
// Decode first walks the input's wire format and rejects counts the input is
// too short to hold, and values nested more than 10000 deep.
type Gob[C any] struct{}

// Encode returns the gob encoding of cmd.
func (Gob[C]) Encode(cmd C) (data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("codec: gob encode: %v", r)
		}
	}()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(cmd); err != nil {
		return nil, fmt.Errorf("codec: gob encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode parses data as one gob-encoded value of type C. It returns an error
// wrapping ErrMalformed for input gob rejects, input that makes gob panic,
// map counts the input cannot back, values nested too deeply, or trailing
// bytes after the value.
func (Gob[C]) Decode(data []byte) (cmd C, err error) {
	if err := checkGob(data); err != nil {
		var zero C
		return zero, err
	}
	defer func() {
		if r := recover(); r != nil {
			var zero C
			cmd, err = zero, fmt.Errorf("%w: gob: %v", ErrMalformed, r)
		}
	}()
	r := bytes.NewReader(data)
	if err := gob.NewDecoder(r).Decode(&cmd); err != nil {
		var zero C
		return zero, fmt.Errorf("%w: gob: %w", ErrMalformed, err)
	}
	if r.Len() != 0 {
		var zero C
		return zero, fmt.Errorf("%w: gob: %d trailing bytes", ErrMalformed, r.Len())
	}
	return cmd, nil
}
