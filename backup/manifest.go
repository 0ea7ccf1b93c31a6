package backup

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// FormatVersion is the version of the backup layout this package writes.
const FormatVersion = 1

// Object names inside a backup.
const (
	ManifestObject = "manifest.json"
	BodyObject     = "state.zst"
)

// manifestKind marks a manifest as one of this package's.
const manifestKind = "jangada-backup"

// maxManifestSize bounds a manifest read from a target.
const maxManifestSize = 1 << 20

// Manifest describes one backup.
type Manifest struct {
	// Kind is always "jangada-backup"; Format is FormatVersion.
	Kind   string `json:"kind"`
	Format int    `json:"format"`
	// Name is the backup's name in its target.
	Name string `json:"name"`
	// ClusterID identifies the cluster the backup was taken from
	// (CreateOptions.ClusterID). jangadactl and the kvstore app record the
	// id of the cluster whose secret they hold (discovery.ClusterID, the id
	// join tickets show); without a secret it is what --cluster-id says,
	// or "". Nothing checks it: a backup restores into a new cluster.
	ClusterID string `json:"cluster_id,omitempty"`
	// StateMachine names the application whose state the backup holds.
	StateMachine string `json:"state_machine"`
	// Node is the member that served the copy; Index and Term those of
	// the last entry the state includes: every write acknowledged before
	// the backup started is at or below Index.
	Node  uint64 `json:"node"`
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// Members is the membership at Index.
	Members   []Member  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
	// StateSize and StateSHA256 describe the state machine's snapshot
	// bytes; equal states have equal hashes when the state machine writes
	// its snapshots deterministically.
	StateSize   int64  `json:"state_size"`
	StateSHA256 string `json:"state_sha256"`
	// Compression is "zstd"; BodySize and BodySHA256 describe the stored
	// (compressed) body.
	Compression string `json:"compression"`
	BodySize    int64  `json:"body_size"`
	BodySHA256  string `json:"body_sha256"`
}

// Member is one member of the backed-up cluster.
type Member struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	// Role is "voter" or "learner".
	Role string `json:"role"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether name can name a backup: 1 to 128 letters,
// digits, '.', '_' or '-', not starting with a punctuation mark.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// newName names a backup taken at t of index: names sort by time.
func newName(t time.Time, index uint64) string {
	return fmt.Sprintf("%s-%d", t.UTC().Format("20060102T150405.000Z"), index)
}

// decodeManifest parses and checks the manifest of backup name.
func decodeManifest(name string, data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: manifest is not valid JSON: %v", ErrForeign, name, err)
	}
	if m.Kind != manifestKind {
		return Manifest{}, fmt.Errorf("%w: %s: manifest kind %q, want %q", ErrForeign, name, m.Kind, manifestKind)
	}
	if m.Format != FormatVersion {
		return Manifest{}, fmt.Errorf("%w: %s: format version %d, this build reads version %d", ErrForeign, name, m.Format, FormatVersion)
	}
	if m.Name != name {
		return Manifest{}, fmt.Errorf("%w: %s: manifest names backup %q", ErrCorrupt, name, m.Name)
	}
	if m.Compression != "zstd" {
		return Manifest{}, fmt.Errorf("%w: %s: compression %q, want zstd", ErrForeign, name, m.Compression)
	}
	for what, h := range map[string]string{"state": m.StateSHA256, "body": m.BodySHA256} {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return Manifest{}, fmt.Errorf("%w: %s: manifest's %s checksum %q is not a SHA-256", ErrCorrupt, name, what, h)
		}
	}
	if m.Index == 0 || m.Term == 0 || m.StateSize < 0 || m.BodySize < 0 {
		return Manifest{}, fmt.Errorf("%w: %s: manifest has index %d, term %d, sizes %d and %d", ErrCorrupt, name, m.Index, m.Term, m.StateSize, m.BodySize)
	}
	return m, nil
}
