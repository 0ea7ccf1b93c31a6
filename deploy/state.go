package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// stateFormat is the version of state.json this build writes. A file
// without one was written before the field existed and reads as version 1.
const stateFormat = 1

// state is what the local driver remembers between commands, in
// StateDir/state.json.
type state struct {
	// Format is stateFormat; a newer one is refused.
	Format  int    `json:"format,omitempty"`
	Cluster string `json:"cluster"`
	// Binary is the installed binary the cluster should run, Previous the
	// one it ran before the last update (what a rollback restores).
	Binary   string `json:"binary"`
	Previous string `json:"previous,omitempty"`
	// Members are the node ids the driver made members, in order; Retired
	// the ids it removed, which are never used again.
	Members []uint64 `json:"members"`
	Retired []uint64 `json:"retired,omitempty"`
	// Nodes is what runs, by node id.
	Nodes map[string]*nodeState `json:"nodes"`
}

// nodeState is one node's process.
type nodeState struct {
	// Binary is the installed binary the node was last started on.
	Binary string `json:"binary"`
	PID    int    `json:"pid,omitempty"`
	// Join: the node was added to a running cluster (started with --join).
	Join bool `json:"join,omitempty"`
	// Formed: the node has been healthy once, so its data directory holds
	// the cluster's state; starting it with an empty one is refused.
	Formed    bool      `json:"formed,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
}

func (s *state) node(id uint64) *nodeState {
	if s.Nodes == nil {
		s.Nodes = map[string]*nodeState{}
	}
	key := strconv.FormatUint(id, 10)
	ns := s.Nodes[key]
	if ns == nil {
		ns = &nodeState{}
		s.Nodes[key] = ns
	}
	return ns
}

func (s *state) isMember(id uint64) bool  { return slices.Contains(s.Members, id) }
func (s *state) isRetired(id uint64) bool { return slices.Contains(s.Retired, id) }

func (l *Local) statePath() string { return filepath.Join(l.stateDir, "state.json") }

// loadState reads the state; a missing file is an empty state.
func (l *Local) loadState() (*state, error) {
	data, err := os.ReadFile(l.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return &state{Cluster: l.cfg.ClusterName, Nodes: map[string]*nodeState{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deploy: read state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("deploy: state %s is corrupt: %w", l.statePath(), err)
	}
	if s.Format > stateFormat {
		return nil, fmt.Errorf("deploy: state %s has format %d, written by a newer jangadactl; this one reads format %d", l.statePath(), s.Format, stateFormat)
	}
	if s.Cluster != l.cfg.ClusterName {
		return nil, fmt.Errorf("deploy: state dir %s belongs to cluster %q, not %q", l.stateDir, s.Cluster, l.cfg.ClusterName)
	}
	if s.Nodes == nil {
		s.Nodes = map[string]*nodeState{}
	}
	return &s, nil
}

// saveState writes the state atomically (temporary file, fsync, rename).
func (l *Local) saveState(s *state) error {
	s.Format = stateFormat
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.statePath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("deploy: write state: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("deploy: write state: %w", err)
	}
	if err := os.Rename(tmp, l.statePath()); err != nil {
		return fmt.Errorf("deploy: write state: %w", err)
	}
	return nil
}

// lock takes the state directory's lock for one operation.
func (l *Local) lock() (unlock func(), err error) {
	if err := os.MkdirAll(l.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("deploy: state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(l.stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("deploy: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s): %v", ErrLocked, l.stateDir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// install copies binary into StateDir/bin under a name that carries its
// content hash, so that a rollback restores exactly what ran before even if
// the source path was rebuilt since. It returns the copy's path.
func (l *Local) install(binary string) (string, error) {
	src, err := os.Open(binary)
	if err != nil {
		return "", fmt.Errorf("deploy: binary: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return "", fmt.Errorf("deploy: binary: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: binary %s is not an executable file", ErrInvalidConfig, binary)
	}
	h := sha256.New()
	if _, err := io.Copy(h, src); err != nil {
		return "", fmt.Errorf("deploy: binary: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	dir := filepath.Join(l.stateDir, "bin")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("deploy: install binary: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(binary)+"-"+sum)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o700)
	if err != nil {
		return "", fmt.Errorf("deploy: install binary: %w", err)
	}
	_, cerr := io.Copy(out, src)
	serr := out.Sync()
	if err := errors.Join(cerr, serr, out.Close()); err != nil {
		return "", fmt.Errorf("deploy: install binary: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("deploy: install binary: %w", err)
	}
	return dst, nil
}

// label names an installed binary for people: its base name and hash.
func label(installed string) string {
	if installed == "" {
		return "-"
	}
	return filepath.Base(installed)
}
