package app

import (
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/fx"
)

// ErrInsecurePermissions is wrapped by the errors for a secret file or a
// data directory that group or others may access.
var ErrInsecurePermissions = errors.New("kvstore app: insecure permissions")

// privatePerm is the permission bits a private file or directory must not
// have: any access for group or others.
const privatePerm = 0o077

// ReadPrivateFile reads a file holding secrets (a cluster secret, API
// tokens, a TLS key, a config file). It returns an error wrapping
// ErrInsecurePermissions, naming the file and the chmod that fixes it, if
// group or others may access it.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(path, info, "600"); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// CheckPrivateFile returns an error wrapping ErrInsecurePermissions if group
// or others may access the file at path.
func CheckPrivateFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkPrivate(path, info, "600")
}

func checkPrivate(path string, info os.FileInfo, chmod string) error {
	if perm := info.Mode().Perm(); perm&privatePerm != 0 {
		return fmt.Errorf("%w: %s has mode %04o, which lets group or others in; run: chmod %s %s",
			ErrInsecurePermissions, path, perm, chmod, path)
	}
	return nil
}

// DataDir is Config.DataDir once it exists and is private to its owner.
type DataDir string

// DataDirParams are what NewDataDir is built from.
type DataDirParams struct {
	fx.In

	Config Config
}

// NewDataDir creates Config.DataDir with mode 0700 if it is missing. It
// returns an error wrapping ErrInsecurePermissions if the directory exists
// and group or others may access it: the identity key and the stores are
// in it.
func NewDataDir(p DataDirParams) (DataDir, error) {
	dir := p.Config.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if err := checkPrivate(dir, info, "700"); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	return DataDir(dir), nil
}
