// Package codec turns commands into bytes and back for jangada: command
// codecs (JSON, gob, raw bytes), zstd and s2 compression, and the checksummed,
// length-prefixed framing that jangada's wire protocols and stores use.
//
// Framing:
//
//	fw := codec.NewFrameWriter(conn)
//	if err := fw.WriteFrame(payload); err != nil {
//		return err
//	}
//
//	fr := codec.NewFrameReader(conn, 1<<20) // reject frames over 1 MiB
//	for {
//		payload, err := fr.ReadFrame() // valid until the next ReadFrame
//		if err != nil {
//			return err // io.EOF at a clean end of stream
//		}
//		handle(payload)
//	}
package codec
