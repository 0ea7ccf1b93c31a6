package backup

import (
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzDecodeManifest feeds arbitrary bytes to the manifest decoder, as a
// damaged or foreign target would: it returns an error wrapping
// ErrForeign or ErrCorrupt, never panics, and accepts only manifests whose
// checksums are SHA-256 sums and whose index and term are set.
func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"kind":"jangada-backup","format":1,"name":"n","state_machine":"kv","index":3,"term":1,"compression":"zstd",` +
		`"state_sha256":"` + zeros + `","body_sha256":"` + zeros + `"}`))
	f.Add([]byte(`{"kind":"jangada-backup","format":2}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeManifest("n", data)
		if err != nil {
			if !errors.Is(err, ErrForeign) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v wraps neither ErrForeign nor ErrCorrupt", err)
			}
			return
		}
		for _, h := range []string{m.StateSHA256, m.BodySHA256} {
			if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
				t.Fatalf("accepted checksum %q", h)
			}
		}
		if m.Index == 0 || m.Term == 0 || m.Name != "n" || m.Format != FormatVersion {
			t.Fatalf("accepted manifest %+v", m)
		}
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
