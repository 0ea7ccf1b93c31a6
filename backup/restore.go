package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// checkedState reads a backup's state bytes out of its body and, at the
// end, checks both against the manifest: a mismatch or a short body is an
// error wrapping ErrCorrupt instead of io.EOF, so a consumer that stops at
// the first error never takes a damaged backup for a whole one.
type checkedState struct {
	ctx    context.Context
	m      Manifest
	raw    io.ReadCloser
	body   *countingHash
	state  *countingHash
	dec    *zstd.Decoder
	err    error
	closed bool
}

// openState opens backup m's body as checked state bytes.
// progress, when set, is called (from the decoder's goroutine) with the
// body bytes read so far.
func openState(ctx context.Context, target Target, m Manifest, progress func(int64)) (*checkedState, error) {
	raw, err := target.Get(ctx, m.Name+"/"+BodyObject)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %s: the manifest is there but the body %s is missing", ErrCorrupt, m.Name, BodyObject)
		}
		return nil, err
	}
	c := &checkedState{ctx: ctx, m: m, raw: raw, body: &countingHash{h: sha256.New(), progress: progress}, state: &countingHash{h: sha256.New()}}
	c.dec, err = zstd.NewReader(io.TeeReader(ctxReader{ctx, raw}, c.body), zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	return c, nil
}

func (c *checkedState) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.dec.Read(p)
	c.state.Write(p[:n])
	switch {
	case err == io.EOF:
		c.err = c.finish()
		if c.err == nil {
			c.err = io.EOF
		}
		return n, c.err
	case err != nil:
		if c.ctx.Err() != nil {
			c.err = c.ctx.Err()
		} else {
			c.err = fmt.Errorf("%w: %s: body does not decompress after %d bytes of state: %v", ErrCorrupt, c.m.Name, c.state.n, err)
		}
		return n, c.err
	}
	return n, nil
}

// finish checks the sizes and checksums once the state is read. The
// compressed body must end where the zstd stream ends.
func (c *checkedState) finish() error {
	if _, err := io.Copy(c.body, c.raw); err != nil {
		return fmt.Errorf("backup: %s: read body: %w", c.m.Name, err)
	}
	m := c.m
	switch {
	case c.body.n != m.BodySize:
		return fmt.Errorf("%w: %s: body has %d bytes, the manifest says %d (truncated or altered)", ErrCorrupt, m.Name, c.body.n, m.BodySize)
	case hex.EncodeToString(c.body.h.Sum(nil)) != m.BodySHA256:
		return fmt.Errorf("%w: %s: body SHA-256 differs from the manifest's", ErrCorrupt, m.Name)
	case c.state.n != m.StateSize:
		return fmt.Errorf("%w: %s: state has %d bytes, the manifest says %d", ErrCorrupt, m.Name, c.state.n, m.StateSize)
	case hex.EncodeToString(c.state.h.Sum(nil)) != m.StateSHA256:
		return fmt.Errorf("%w: %s: state SHA-256 differs from the manifest's", ErrCorrupt, m.Name)
	}
	return nil
}

func (c *checkedState) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.dec.Close()
	return c.raw.Close()
}

// Restorer is a state machine's Restore, the only method Verify needs.
type Restorer interface {
	Restore(r io.Reader) error
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// StateMachine, when set, must be the backup's state-machine name.
	StateMachine string
	// Scratch, when set, is a fresh state machine the state is restored
	// into: the backup then proves it restores, not only that its bytes are
	// intact. Without it the state is read and checked, not interpreted.
	Scratch Restorer
	// Progress, when set, is called with the body bytes read so far.
	Progress func(bodyBytes int64)
}

// Verify reads backup name (the newest when name is "") whole and checks it
// against its manifest: sizes and SHA-256 of the compressed body and of the
// state, and, with opts.Scratch, a restore. It returns the manifest.
//
// Errors: ErrNotFound, ErrForeign, ErrCorrupt (naming what differs),
// ErrStateMachineMismatch, the scratch machine's error, the target's and
// the context's.
func Verify(ctx context.Context, target Target, name string, opts VerifyOptions) (Manifest, error) {
	m, err := manifestOf(ctx, target, name)
	if err != nil {
		return Manifest{}, err
	}
	if err := checkStateMachine(m, opts.StateMachine); err != nil {
		return m, err
	}
	cs, err := openState(ctx, target, m, opts.Progress)
	if err != nil {
		return m, err
	}
	defer cs.Close()
	if opts.Scratch != nil {
		err = opts.Scratch.Restore(cs)
		if cs.err != nil && cs.err != io.EOF {
			return m, cs.err // the cause, rather than how the machine saw it
		}
		if err != nil {
			return m, fmt.Errorf("backup: %s: restore into a scratch state machine: %w", m.Name, err)
		}
	}
	// Whatever the machine left unread is still checked.
	if _, err := io.Copy(io.Discard, cs); err != nil {
		return m, err
	}
	return m, nil
}

func manifestOf(ctx context.Context, target Target, name string) (Manifest, error) {
	if name == "" {
		return Latest(ctx, target)
	}
	return ReadManifest(ctx, target, name)
}

func checkStateMachine(m Manifest, want string) error {
	if want != "" && m.StateMachine != want {
		return fmt.Errorf("%w: backup %s holds state machine %q, this application's is %q", ErrStateMachineMismatch, m.Name, m.StateMachine, want)
	}
	return nil
}

// RestoreOptions say where and how to restore.
type RestoreOptions struct {
	// StateMachine is the application's state-machine name; a backup of
	// another is refused. Required.
	StateMachine string
	// LogStore and SnapshotStore are the new node's empty stores, as the
	// application opens them at its first start. The caller closes them.
	LogStore      raftcore.LogStore
	SnapshotStore raftcore.SnapshotStore
	// Voters is the new cluster's membership, the same for every node.
	Voters []raftcore.Peer
	// Progress, when set, is called with the body bytes read so far.
	Progress func(bodyBytes int64)
}

// Restore seeds a new node's empty stores from backup name (the newest
// when name is ""), for a brand-new cluster of opts.Voters: run it for
// every node of the new cluster before its first start. The backup is
// checked as Verify checks it while it is written; a damaged one leaves no
// snapshot behind. It returns the manifest.
//
// Errors: ErrInvalid (missing options), ErrStateMachineMismatch,
// ErrNotFound, ErrForeign, ErrCorrupt, raftcore.ErrInvalidConfig (stores
// not empty, bad voters), the target's and the context's.
func Restore(ctx context.Context, target Target, name string, opts RestoreOptions) (Manifest, error) {
	if opts.StateMachine == "" || opts.LogStore == nil || opts.SnapshotStore == nil || len(opts.Voters) == 0 {
		return Manifest{}, fmt.Errorf("%w: restore needs the state machine's name, both stores and the voters", ErrInvalid)
	}
	m, err := manifestOf(ctx, target, name)
	if err != nil {
		return Manifest{}, err
	}
	if err := checkStateMachine(m, opts.StateMachine); err != nil {
		return m, err
	}
	cs, err := openState(ctx, target, m, opts.Progress)
	if err != nil {
		return m, err
	}
	defer cs.Close()
	if _, err := raftcore.SeedState(opts.LogStore, opts.SnapshotStore, m.Index, m.Term, opts.Voters, cs); err != nil {
		if cs.err != nil && cs.err != io.EOF {
			return m, cs.err
		}
		return m, fmt.Errorf("backup: restore %s: %w", m.Name, err)
	}
	return m, nil
}
