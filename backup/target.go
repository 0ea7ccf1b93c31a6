package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Target stores backups as named objects ("NAME/manifest.json",
// "NAME/state.zst"). Implementations: DirTarget, S3Target.
type Target interface {
	// Put stores r's bytes as object key. A failed or cancelled Put leaves
	// nothing visible under key.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens object key; the caller closes it. It returns an error
	// wrapping ErrNotFound for an unknown key.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the names of the backups (the first element of every
	// key), sorted.
	List(ctx context.Context) ([]string, error)
	// Delete removes backup name's objects; an unknown name is not an
	// error.
	Delete(ctx context.Context, name string) error
	// String describes the target for messages, without credentials.
	String() string
}

// OpenTarget opens the target a location names: "s3://BUCKET/PREFIX" (see
// NewS3Target; credentials from the environment) or a directory path.
func OpenTarget(location string) (Target, error) {
	if rest, ok := strings.CutPrefix(location, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		return NewS3Target(S3Config{Bucket: bucket, Prefix: prefix})
	}
	if strings.Contains(location, "://") {
		return nil, fmt.Errorf("%w: location %q: want a directory or s3://BUCKET/PREFIX", ErrInvalid, location)
	}
	return NewDirTarget(location)
}

// DirTarget keeps backups in a local directory, one subdirectory each.
type DirTarget struct{ dir string }

var _ Target = (*DirTarget)(nil)

// NewDirTarget returns the target of directory dir, creating it (mode
// 0700: backups hold all the data) if it is missing.
func NewDirTarget(dir string) (*DirTarget, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty backup directory", ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &DirTarget{dir: dir}, nil
}

func (d *DirTarget) String() string { return d.dir }

func (d *DirTarget) path(key string) (string, error) {
	name, obj, ok := strings.Cut(key, "/")
	if !ok || !ValidName(name) || !ValidName(obj) {
		return "", fmt.Errorf("%w: object key %q", ErrInvalid, key)
	}
	return filepath.Join(d.dir, name, obj), nil
}

// Put implements Target: a temporary file, fsynced, renamed into place.
func (d *DirTarget) Put(ctx context.Context, key string, r io.Reader) error {
	path, err := d.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("backup: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", dir, err)
	}
	return nil
}

// Get implements Target.
func (d *DirTarget) Get(_ context.Context, key string) (io.ReadCloser, error) {
	path, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, key, d.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return f, nil
}

// List implements Target.
func (d *DirTarget) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && ValidName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Delete implements Target.
func (d *DirTarget) Delete(_ context.Context, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: backup name %q", ErrInvalid, name)
	}
	// The manifest first, so that a backup is never listed without its body.
	if err := os.Remove(filepath.Join(d.dir, name, ManifestObject)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(d.dir, name)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return syncDir(d.dir)
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
