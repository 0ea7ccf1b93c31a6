// Package codec turns commands into bytes and back for jangada: command
// codecs (JSON, gob, raw bytes), zstd and s2 compression, and the checksummed,
// length-prefixed framing that jangada's wire protocols and stores use.
//
// Every codec has the method set of raftcore.Codec, and every decoder treats
// its input as untrusted: it returns an error wrapping ErrMalformed,
// ErrChecksum, ErrFrameTooLarge or ErrDecodedTooLarge, never panics, and
// allocates in proportion to its input or to a configured limit.
//
// Commands, compressed when their encoding reaches 512 bytes:
//
//	cmds, err := codec.NewCompressed[Command](codec.JSON[Command]{}, codec.CompressionConfig{})
//	data, err := cmds.Encode(Command{Op: "put", Key: "k", Value: v})
//	cmd, err := cmds.Decode(data)
//
// Frames on a stream:
//
//	fw := codec.NewFrameWriter(conn)
//	err := fw.WriteFrame(payload)
//
//	fr := codec.NewFrameReader(conn, 1<<20) // reject frames over 1 MiB
//	payload, err := fr.ReadFrame()          // io.EOF at a clean end of stream
//
// Snapshots, compressed as they stream:
//
//	w, err := codec.NewZstdWriter(file) // NewZstdReader reads it back
package codec
