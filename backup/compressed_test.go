package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/jangada-io/jangada/backup"
)

// compressedBody streams a state compressed with zstd, with its digest at
// the end, as mgmt.StateReader does for Client.StateCompressed.
type compressedBody struct {
	io.Reader
	size   int64
	sum    []byte
	closed bool
	atEOF  bool
}

func (b *compressedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		b.atEOF = true
	}
	return n, err
}

func (b *compressedBody) Close() error   { b.closed = true; return nil }
func (*compressedBody) Compressed() bool { return true }

func (b *compressedBody) StateDigest() (int64, []byte) {
	if !b.atEOF {
		return 0, nil
	}
	return b.size, b.sum
}

// compressedSource serves state compressed, with digest's size and sum as
// the state's (a source that lies when they are not the state's).
func compressedSource(t *testing.T, state []byte, size int64, sum []byte) (backup.Source, *compressedBody) {
	t.Helper()
	var body bytes.Buffer
	enc, err := zstd.NewWriter(&body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(state); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	cb := &compressedBody{Reader: bytes.NewReader(body.Bytes()), size: size, sum: sum}
	inner, _ := kvSource(t, 0, 0, 0)
	return backup.SourceFunc(func(ctx context.Context) (backup.State, error) {
		st, err := inner.OpenState(ctx)
		st.Body = cb
		return st, err
	}), cb
}

// A body that comes compressed is stored as it is, and the backup verifies
// and restores like any other; the manifest describes the body it stored.
func TestCompressedBodyIsStoredAsItComes(t *testing.T) {
	target, err := backup.NewDirTarget(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, state := kvSource(t, 2000, 100, 4)
	sum := sha256.Sum256(state)
	src, body := compressedSource(t, state, int64(len(state)), sum[:])
	m := roundTrip(t, target, src, state)
	if !body.closed || m.BodySize >= m.StateSize {
		t.Fatalf("body closed %v; manifest says %d bytes of state stored in %d", body.closed, m.StateSize, m.BodySize)
	}
}

// Verify catches a compressed body whose source gave a wrong digest, and a
// source that gives none fails the backup and leaves nothing behind.
func TestCompressedBodyDigestIsCheckedByVerify(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	target, err := backup.NewDirTarget(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, state := kvSource(t, 200, 100, 5)
	wrong := sha256.Sum256(append(state, 'x'))
	src, _ := compressedSource(t, state, int64(len(state)), wrong[:])
	m, err := backup.Create(ctx, target, src, backup.CreateOptions{Name: "lied"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Verify(ctx, target, m.Name, backup.VerifyOptions{}); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("verify of a backup with a wrong state checksum: %v, want ErrCorrupt", err)
	}

	src, _ = compressedSource(t, state, int64(len(state)), nil)
	if _, err := backup.Create(ctx, target, src, backup.CreateOptions{Name: "no-digest"}); err == nil {
		t.Fatal("a compressed body without a state checksum was backed up")
	}
	if _, err := backup.ReadManifest(ctx, target, "no-digest"); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("after a failed backup: %v, want ErrNotFound", err)
	}
}
