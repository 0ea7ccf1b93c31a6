package transportquic

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateIdentityPersistsKeyWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "node.key")
	first, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	second, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !first.Equal(second) {
		t.Error("reloading the key file returned a different key")
	}
}

func TestLoadIdentityRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := MarshalIdentity(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    error
	}{
		{"ReadableByOthers", pemKey, 0o644, ErrKeyPermissions},
		{"ReadableByGroup", pemKey, 0o640, ErrKeyPermissions},
		{"NotPEM", []byte("hello"), 0o600, ErrInvalidKey},
		{"WrongPEMType", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600, ErrInvalidKey},
		{"TruncatedDER", bytes.Replace(pemKey, []byte("MC4CAQAwBQYDK2VwBCIEI"), []byte("MC4CAQAw"), 1), 0o600, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIdentity(path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadIdentity: %v, want %v", err, tt.want)
			}
			if _, err := LoadOrCreateIdentity(path); !errors.Is(err, tt.want) {
				t.Fatalf("LoadOrCreateIdentity replaced or accepted a bad file: %v", err)
			}
		})
	}
}

func TestFormatKeyRoundTrips(t *testing.T) {
	priv, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pub := PublicKey(priv)
	s := FormatKey(pub)
	if len(s) != 52 || strings.ToLower(s) != s {
		t.Fatalf("FormatKey = %q, want 52 lower-case characters", s)
	}
	for _, in := range []string{s, strings.ToUpper(s), " " + s + "\n"} {
		got, err := ParseKey(in)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", in, err)
		}
		if !got.Equal(pub) {
			t.Fatalf("ParseKey(%q) returned another key", in)
		}
	}
}

func TestParseKeyRejectsMalformedKeys(t *testing.T) {
	valid := FormatKey(make(ed25519.PublicKey, ed25519.PublicKeySize))
	tests := []struct{ name, in string }{
		{"Empty", ""},
		{"TooShort", valid[:40]},
		{"TooLong", valid + "aaaaaaaa"},
		{"NotBase32", strings.Repeat("!", 52)},
		{"Digit1IsNotBase32", strings.Repeat("1", 52)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseKey(tt.in); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%q) = %v, want ErrInvalidKey", tt.in, err)
			}
		})
	}
}
