package mgmt

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"strings"

	raftcore "github.com/jangada-io/jangada/raft-core"
)

// keyEncoding is the printable form of public keys, the same as
// transport-quic's FormatKey: lower-case base32 without padding.
var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// FormatKey returns the printable form of a public key (52 lower-case base32
// characters for an ed25519 key), as transport-quic prints keys.
func FormatKey(key []byte) string {
	if len(key) == 0 {
		return "-"
	}
	return strings.ToLower(keyEncoding.EncodeToString(key))
}

// ParseKey decodes a key printed by FormatKey. It returns an error wrapping
// ErrInvalid for anything that is not a 32-byte key.
func ParseKey(s string) ([]byte, error) {
	b, err := keyEncoding.DecodeString(strings.ToUpper(strings.TrimSpace(s)))
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("%w: %q is not a printable ed25519 public key", ErrInvalid, s)
	}
	return b, nil
}

// ParseKeyList parses a list of printable keys, one a line; blank lines and
// lines starting with # are skipped. It is the format of admin key files.
func ParseKeyList(data []byte) ([][]byte, error) {
	var keys [][]byte
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// access is what a caller may do.
type access int

const (
	accessNone access = iota
	accessRead
	accessAdmin
)

// authorize decides what the remote of stream may do. Admins are the
// holders of a key in AdminKeys and, with SecretHoldersAreAdmins, every
// remote that proved it holds the cluster secret (raftcore.SecretHolderStream;
// on a transport that cannot say, every remote it proved a raft id for).
// Members (by proved id or by key) may read.
func (s *Server) authorize(stream raftcore.Stream, st raftcore.Status) access {
	remote := stream.Remote()
	if len(remote.Key) > 0 {
		for _, k := range s.cfg.AdminKeys {
			if bytes.Equal(k, remote.Key) {
				return accessAdmin
			}
		}
	}
	if s.cfg.SecretHoldersAreAdmins {
		holder := remote.ID != 0
		if sh, ok := stream.(raftcore.SecretHolderStream); ok {
			holder = sh.ClusterSecretHolder()
		}
		if holder {
			return accessAdmin
		}
	}
	for _, m := range st.Members {
		if remote.ID != 0 && m.ID == remote.ID || len(remote.Key) > 0 && bytes.Equal(m.Key, remote.Key) {
			return accessRead
		}
	}
	return accessNone
}
