package transportquic

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keyEncoding is the printable form of public keys: lower-case base32 without
// padding (52 characters for an ed25519 key), which survives DNS labels, file
// names and copy-paste.
var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const privateKeyPEMType = "PRIVATE KEY"

// GenerateIdentity returns a new random ed25519 identity key.
func GenerateIdentity() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transportquic: generate identity: %w", err)
	}
	return priv, nil
}

// LoadOrCreateIdentity reads the identity key stored at path, or, when the file
// does not exist, generates one and stores it there with mode 0600. A node calls
// it on every start so its identity (its public key) stays the same across
// restarts. It returns an error wrapping ErrKeyPermissions if the file is
// readable by group or others, and ErrInvalidKey if it holds no ed25519 key.
func LoadOrCreateIdentity(path string) (ed25519.PrivateKey, error) {
	priv, err := LoadIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	priv, err = GenerateIdentity()
	if err != nil {
		return nil, err
	}
	if err := writeIdentity(path, priv); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use theirs.
			return LoadIdentity(path)
		}
		return nil, err
	}
	return priv, nil
}

// LoadIdentity reads an identity key written by LoadOrCreateIdentity or
// MarshalIdentity (PKCS #8 in PEM). See LoadOrCreateIdentity for the errors.
func LoadIdentity(path string) (ed25519.PrivateKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("transportquic: load identity: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrKeyPermissions, path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transportquic: load identity: %w", err)
	}
	priv, err := ParseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

// MarshalIdentity encodes priv as PKCS #8 in PEM, the format of key files.
func MarshalIdentity(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key has %d bytes", ErrInvalidKey, len(priv))
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: privateKeyPEMType, Bytes: der}), nil
}

// ParseIdentity decodes a key file's contents. It returns an error wrapping
// ErrInvalidKey for anything but a PEM PKCS #8 ed25519 private key.
func ParseIdentity(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != privateKeyPEMType {
		return nil, fmt.Errorf("%w: no %q PEM block", ErrInvalidKey, privateKeyPEMType)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is %T, not ed25519", ErrInvalidKey, key)
	}
	return priv, nil
}

func writeIdentity(path string, priv ed25519.PrivateKey) error {
	data, err := MarshalIdentity(priv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	// Write a private temporary file and link it into place, so a crash never
	// leaves a truncated key behind and a concurrent creator is detected.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-*")
	if err != nil {
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("transportquic: store identity: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// PublicKey returns the public half of an identity: the node's identity as
// peers see it and as raftcore.Peer.Key carries it.
func PublicKey(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

// FormatKey returns the printable form of a public key: 52 lower-case base32
// characters.
func FormatKey(pub ed25519.PublicKey) string {
	return strings.ToLower(keyEncoding.EncodeToString(pub))
}

// ParseKey decodes a key printed by FormatKey (case-insensitive). It returns an
// error wrapping ErrInvalidKey for anything else.
func ParseKey(s string) (ed25519.PublicKey, error) {
	b, err := keyEncoding.DecodeString(strings.ToUpper(strings.TrimSpace(s)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
