package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// WriteProxy writes a GOPROXY directory (the layout the go command reads
// from file:// URLs) serving every module of the repository at version,
// made from the working tree: what the tags of that release would serve.
func (r *Repo) WriteProxy(version, out string) error {
	for _, m := range r.Modules {
		if err := r.modulePathOK(m); err != nil {
			return err
		}
		esc, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		dir := filepath.Join(out, filepath.FromSlash(esc), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		src := filepath.Join(r.Root, filepath.FromSlash(m.Dir))
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, version+".mod"), gomod, 0o644); err != nil {
			return err
		}
		info, err := json.Marshal(struct {
			Version string
			Time    time.Time
		}{version, time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, version+".info"), info, 0o644); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, version+".zip"))
		if err != nil {
			return err
		}
		if err := zip.CreateFromDir(f, module.Version{Path: m.Path, Version: version}, src); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", m.Dir, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "list"), []byte(version+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
