package codec

// Codec turns commands of type C into bytes and back. It has the same method
// set as raftcore.Codec, so every codec in this package can be handed to the
// raft engine without this module importing raft-core.
//
// Decode returns an error wrapping ErrMalformed, and never panics, for bytes
// Encode could not have produced.
type Codec[C any] interface {
	Encode(cmd C) ([]byte, error)
	Decode(data []byte) (C, error)
}

var (
	_ Codec[struct{}] = JSON[struct{}]{}
	_ Codec[struct{}] = Gob[struct{}]{}
	_ Codec[[]byte]   = Bytes{}
	_ Codec[[]byte]   = (*Compressed[[]byte])(nil)
)
