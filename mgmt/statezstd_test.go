package mgmt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jangada-io/jangada/mgmt"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// A compressed state copy is one zstd stream of the state, in many frames;
// its digest gives the state's size and SHA-256 at the end (not before);
// a caller without admin credentials gets none of it.
func TestCompressedStateCopyIsTheStateCompressedWithItsDigest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// 300 puts of 2 KiB of hex digits and 2 KiB of one letter each.
	client, mc := stateNode(ctx, t, 300, func(i int) string {
		value := strings.Builder{}
		value.WriteString(strings.Repeat("v", 2048))
		for j := range 32 {
			fmt.Fprintf(&value, "%x", sha256.Sum256([]byte(fmt.Sprint(i, j))))
		}
		return value.String()
	})
	r, err := client.StateCompressed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Compressed() || r.Info.Compression != "zstd" || r.Info.StateMachine != "kv" || r.Info.Index < 300 {
		t.Fatalf("compressed copy: compressed %v, info %+v", r.Compressed(), r.Info)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	if _, sum := r.StateDigest(); sum != nil {
		t.Fatalf("state checksum %x before the end of the copy", sum)
	}
	rest, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	body := append(first, rest...)
	dec, err := zstd.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	state, err := io.ReadAll(dec)
	if err != nil {
		t.Fatalf("the copy is not a zstd stream: %v", err)
	}
	if len(body) >= len(state) || len(body) < 256<<10 {
		t.Fatalf("%d bytes of state sent as %d: want compressed, in several frames", len(state), len(body))
	}
	size, sum := r.StateDigest()
	if want := sha256.Sum256(state); size != int64(len(state)) || !bytes.Equal(sum, want[:]) {
		t.Fatalf("digest says %d bytes, sha256 %x; the state has %d, %x", size, sum, len(state), want)
	}
	got := clustertest.NewKV()
	if err := got.Restore(bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 300 {
		t.Fatalf("copy holds %d keys, want 300", len(got.Data))
	}

	if _, err := mc.StateCompressed(ctx); !errors.Is(err, mgmt.ErrUnauthorized) {
		t.Fatalf("compressed state copy for a member: %v, want ErrUnauthorized", err)
	}
}
