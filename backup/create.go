package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"
)

// State is a consistent copy of a cluster's state machine, as a Source
// opens it.
type State struct {
	// Node served the copy; Index and Term are those of the last entry it
	// includes; Members the membership at Index.
	Node         uint64
	Index, Term  uint64
	Members      []Member
	StateMachine string
	// Body streams the state machine's snapshot bytes; Create closes it.
	// A Body that implements CompressedBody may stream them compressed.
	Body io.ReadCloser
}

// CompressedBody is implemented by a State's Body that may stream the
// backup's body itself, the state already compressed with zstd, with the
// state's size and SHA-256 computed where it was compressed: an
// mgmt.StateReader from Client.StateCompressed. Create then stores the
// stream as it arrives instead of compressing the state again.
type CompressedBody interface {
	// Compressed reports whether the body streams compressed.
	Compressed() bool
	// StateDigest returns the state bytes the body read so far holds and,
	// once it returned io.EOF, the state's SHA-256 (nil before).
	StateDigest() (size int64, sha256 []byte)
}

// Source opens a consistent copy of the state: a management client's State
// call (jangadactl), or a node's own raftcore.Node.OpenState (scheduled
// backups).
type Source interface {
	OpenState(ctx context.Context) (State, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (State, error)

// OpenState implements Source.
func (f SourceFunc) OpenState(ctx context.Context) (State, error) { return f(ctx) }

// CreateOptions tune Create.
type CreateOptions struct {
	// Name of the new backup. Default: the creation time and index
	// ("20261206T052703.123Z-4711"), so that names sort by time.
	Name string
	// ClusterID identifies the cluster in the manifest (see
	// Manifest.ClusterID). Default: "".
	ClusterID string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Progress, when set, is called with the number of state bytes read so
	// far, as the copy proceeds.
	Progress func(stateBytes int64)
}

// Create streams a copy of src's state into target as a new backup: the
// body (zstd) first, then the manifest, which makes it visible. Neither the
// state nor the body is held whole in memory. It returns the manifest.
//
// Errors: ErrInvalid (a bad name), ErrExists, the source's and target's
// errors, the context's error. A failed Create leaves no listed backup
// behind: it deletes what it stored.
func Create(ctx context.Context, target Target, src Source, opts CreateOptions) (Manifest, error) {
	if opts.Name != "" && !ValidName(opts.Name) {
		return Manifest{}, fmt.Errorf("%w: backup name %q", ErrInvalid, opts.Name)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	st, err := src.OpenState(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: open state: %w", err)
	}
	defer st.Body.Close()
	created := now().UTC()
	m := Manifest{
		Kind: manifestKind, Format: FormatVersion, Name: opts.Name, ClusterID: opts.ClusterID,
		StateMachine: st.StateMachine, Node: st.Node, Index: st.Index, Term: st.Term,
		Members: slices.Clone(st.Members), CreatedAt: created, Compression: "zstd",
	}
	if m.Name == "" {
		m.Name = newName(created, st.Index)
	}
	if err := checkAbsent(ctx, target, m.Name); err != nil {
		return Manifest{}, err
	}
	if cb, ok := st.Body.(CompressedBody); ok && cb.Compressed() {
		err = storeCompressed(ctx, target, &m, st.Body, cb, opts.Progress)
	} else {
		err = compressAndStore(ctx, target, &m, st.Body, opts.Progress)
	}
	if err != nil {
		cleanUp(ctx, target, m.Name)
		return Manifest{}, fmt.Errorf("backup: %s: %w", m.Name, err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := target.Put(ctx, m.Name+"/"+ManifestObject, bytes.NewReader(append(data, '\n'))); err != nil {
		cleanUp(ctx, target, m.Name)
		return Manifest{}, fmt.Errorf("backup: %s: %w", m.Name, err)
	}
	return m, nil
}

// compressAndStore stores state compressed as m's body and records the
// sizes and checksums in m.
func compressAndStore(ctx context.Context, target Target, m *Manifest, state io.Reader, progress func(int64)) error {
	stateHash := &countingHash{h: sha256.New(), progress: progress}
	body := &countingHash{h: sha256.New()}
	pr, pw := io.Pipe()
	compressed := make(chan error, 1)
	go func() {
		compressed <- compress(pw, io.TeeReader(state, stateHash))
	}()
	err := target.Put(ctx, m.Name+"/"+BodyObject, io.TeeReader(pr, body))
	// Unblocks the compressor if Put stopped reading early.
	pr.CloseWithError(errors.Join(err, errPutEnded))
	if cerr := <-compressed; cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	m.StateSize, m.StateSHA256 = stateHash.n, hex.EncodeToString(stateHash.h.Sum(nil))
	m.BodySize, m.BodySHA256 = body.n, hex.EncodeToString(body.h.Sum(nil))
	return nil
}

// storeCompressed stores an already compressed body as m's body, and
// records its size and checksum, and the state's, in m.
func storeCompressed(ctx context.Context, target Target, m *Manifest, r io.Reader, cb CompressedBody, progress func(int64)) error {
	body := &countingHash{h: sha256.New()}
	if progress != nil {
		body.progress = func(int64) {
			n, _ := cb.StateDigest()
			progress(n)
		}
	}
	if err := target.Put(ctx, m.Name+"/"+BodyObject, io.TeeReader(r, body)); err != nil {
		return err
	}
	size, sum := cb.StateDigest()
	if len(sum) != sha256.Size {
		return fmt.Errorf("the compressed state's source gave no SHA-256 of the state (body read to its end?)")
	}
	m.StateSize, m.StateSHA256 = size, hex.EncodeToString(sum)
	m.BodySize, m.BodySHA256 = body.n, hex.EncodeToString(body.h.Sum(nil))
	return nil
}

// cleanupTimeout bounds the removal of what a failed Create stored.
const cleanupTimeout = time.Minute

// cleanUp deletes what a failed Create stored, even when ctx ended it.
func cleanUp(ctx context.Context, target Target, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = target.Delete(ctx, name)
}

var errPutEnded = errors.New("backup: upload ended")

// compress writes r's bytes zstd-compressed to pw and closes it, with the
// error that ended the copy if any.
func compress(pw *io.PipeWriter, r io.Reader) error {
	enc, err := zstd.NewWriter(pw, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
	if err != nil {
		pw.CloseWithError(err)
		return err
	}
	_, err = io.Copy(enc, r)
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	pw.CloseWithError(err)
	return err
}

func checkAbsent(ctx context.Context, target Target, name string) error {
	rc, err := target.Get(ctx, name+"/"+ManifestObject)
	if err == nil {
		rc.Close()
		return fmt.Errorf("%w: %s in %s", ErrExists, name, target)
	}
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// countingHash hashes and counts what is written to it.
type countingHash struct {
	h        hash.Hash
	n        int64
	progress func(int64)
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	if c.progress != nil {
		c.progress(c.n)
	}
	return len(p), nil
}

// ReadManifest returns backup name's manifest, checked for kind and
// version. Errors: ErrNotFound, ErrForeign, ErrCorrupt, the target's.
func ReadManifest(ctx context.Context, target Target, name string) (Manifest, error) {
	if !ValidName(name) {
		return Manifest{}, fmt.Errorf("%w: backup name %q", ErrInvalid, name)
	}
	rc, err := target.Get(ctx, name+"/"+ManifestObject)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Manifest{}, fmt.Errorf("%w: no backup %q in %s (no manifest)", ErrNotFound, name, target)
		}
		return Manifest{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: read manifest of %s: %w", name, err)
	}
	if len(data) > maxManifestSize {
		return Manifest{}, fmt.Errorf("%w: %s: manifest over %d bytes", ErrForeign, name, maxManifestSize)
	}
	return decodeManifest(name, data)
}

// List returns the manifests of the complete backups in target, oldest
// first. A backup whose manifest cannot be read is skipped and reported in
// the joined error, along with the others.
func List(ctx context.Context, target Target) ([]Manifest, error) {
	names, err := target.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Manifest
	var errs []error
	for _, name := range names {
		m, err := ReadManifest(ctx, target, name)
		if errors.Is(err, ErrNotFound) {
			continue // incomplete: no manifest yet, or a failed create
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	slices.SortStableFunc(out, func(a, b Manifest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, errors.Join(errs...)
}

// Latest returns the manifest of the newest complete backup. Errors:
// ErrNotFound when there is none.
func Latest(ctx context.Context, target Target) (Manifest, error) {
	all, err := List(ctx, target)
	if len(all) == 0 {
		if err != nil {
			return Manifest{}, err
		}
		return Manifest{}, fmt.Errorf("%w: no backup in %s", ErrNotFound, target)
	}
	return all[len(all)-1], nil
}
