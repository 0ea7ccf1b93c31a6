package codec

import (
	"encoding/json"
	"fmt"
)

// JSON encodes commands with encoding/json. Its zero value is ready to use:
// codec.JSON[MyCommand]{}. It is safe for concurrent use.
//
// JSON is the most readable and the most tolerant of schema changes (unknown
// fields are ignored, missing ones keep their zero value). It writes []byte
// fields as base64, a third larger than the bytes; Gob and Bytes do not.
type JSON[C any] struct{}

// Encode returns the JSON encoding of cmd.
func (JSON[C]) Encode(cmd C) ([]byte, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("codec: json encode: %w", err)
	}
	return data, nil
}

// Decode parses data as one JSON value of type C. It returns an error
// wrapping ErrMalformed for invalid JSON, trailing data or a value that does
// not fit C.
func (JSON[C]) Decode(data []byte) (C, error) {
	var cmd C
	if err := json.Unmarshal(data, &cmd); err != nil {
		var zero C
		return zero, fmt.Errorf("%w: json: %w", ErrMalformed, err)
	}
	return cmd, nil
}
