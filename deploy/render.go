package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Render targets.
const (
	TargetSystemd    = "systemd"
	TargetKubernetes = "kubernetes"
)

// File is one rendered file.
type File struct {
	// Path is relative to the output directory.
	Path string
	Data []byte
}

// Render returns the files that run cfg's cluster on target: for systemd,
// a unit and an env file per node; for kubernetes, a headless Service, a
// client Service, a StatefulSet, a PodDisruptionBudget and (unless
// monitoring.service_monitor is false) a ServiceMonitor. No file holds the
// cluster secret: it is referred to by path (systemd) or by Secret name
// (Kubernetes).
func Render(cfg *Config, target string) ([]File, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no config", ErrInvalidConfig)
	}
	cfg = cfg.defaulted()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch target {
	case TargetSystemd:
		return renderSystemd(cfg)
	case TargetKubernetes:
		return renderKubernetes(cfg)
	}
	return nil, fmt.Errorf("%w: render target %q: want %s or %s", ErrInvalidConfig, target, TargetSystemd, TargetKubernetes)
}

// WriteFiles writes files under dir (created if missing), replacing files
// of the same names.
func WriteFiles(dir string, files []File) error {
	var errs []error
	for _, f := range files {
		if filepath.IsAbs(f.Path) || strings.Contains(f.Path, "..") {
			return fmt.Errorf("deploy: refusing to write %q outside %s", f.Path, dir)
		}
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("deploy: %w", err))
		}
	}
	return errors.Join(errs...)
}
