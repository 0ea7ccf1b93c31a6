package codec

// Bytes is the identity codec for commands that are already bytes. Its zero
// value is ready to use. It copies on Encode and Decode, so neither side
// shares memory with the other: a caller may reuse the slice it proposed and
// keep the slice it decoded.
type Bytes struct{}

// Encode returns a copy of cmd. A nil cmd encodes as an empty slice.
func (Bytes) Encode(cmd []byte) ([]byte, error) {
	return append([]byte{}, cmd...), nil
}

// Decode returns a copy of data. It never fails: every byte string is a
// valid command.
func (Bytes) Decode(data []byte) ([]byte, error) {
	return append([]byte{}, data...), nil
}
