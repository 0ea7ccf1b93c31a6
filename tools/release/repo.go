package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Module is one module of the repository.
type Module struct {
	Dir  string // relative to the repository root, slash-separated
	Path string // module path
}

// Repo is the repository's set of modules, as go.work lists them.
type Repo struct {
	Root    string
	Modules []Module
}

// LoadRepo reads root/go.work and each listed module's go.mod.
func LoadRepo(root string) (*Repo, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	r := &Repo{Root: root}
	for _, u := range wf.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		mf, err := r.modFile(dir)
		if err != nil {
			return nil, err
		}
		r.Modules = append(r.Modules, Module{Dir: dir, Path: mf.Module.Mod.Path})
	}
	if len(r.Modules) == 0 {
		return nil, errors.New("go.work lists no modules")
	}
	return r, nil
}

func (r *Repo) modFile(dir string) (*modfile.File, error) {
	name := filepath.Join(r.Root, filepath.FromSlash(dir), "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(name, data, nil)
}

func (r *Repo) sibling(p string) (Module, bool) {
	for _, m := range r.Modules {
		if m.Path == p {
			return m, true
		}
	}
	return Module{}, false
}

// CheckVersion accepts a canonical semantic version of v0 or v1: the
// modules' paths carry no /vN suffix.
func CheckVersion(v string) error {
	switch {
	case v == "":
		return errors.New("-version is required (for example v0.2.0)")
	case !semver.IsValid(v) || semver.Canonical(v) != v:
		return fmt.Errorf("version %q is not a canonical semantic version like v0.2.0", v)
	case module.IsPseudoVersion(v) || semver.Prerelease(v) != "":
		return fmt.Errorf("version %s is not a release: a user outside the repository cannot get it (want vX.Y.Z)", v)
	case semver.Major(v) != "v0" && semver.Major(v) != "v1":
		return fmt.Errorf("version %s needs /%s module paths, which these modules do not have", v, semver.Major(v))
	}
	return nil
}

// Check reports every sibling requirement that is not at version or has no
// replace directive to the sibling's directory.
func (r *Repo) Check(version string) error {
	var problems []string
	for _, m := range r.Modules {
		mf, err := r.modFile(m.Dir)
		if err != nil {
			return err
		}
		replaced := map[string]string{}
		for _, rep := range mf.Replace {
			replaced[rep.Old.Path] = rep.New.Path
		}
		for _, req := range mf.Require {
			sib, ok := r.sibling(req.Mod.Path)
			if !ok {
				continue
			}
			if req.Mod.Version != version {
				problems = append(problems, fmt.Sprintf("%s/go.mod requires %s %s, want %s", m.Dir, req.Mod.Path, req.Mod.Version, version))
			}
			want, _ := filepath.Rel(filepath.FromSlash(m.Dir), filepath.FromSlash(sib.Dir))
			if got := replaced[req.Mod.Path]; filepath.Clean(filepath.FromSlash(got)) != want {
				problems = append(problems, fmt.Sprintf("%s/go.mod: %s must be replaced by %s for work inside the repository (have %q)", m.Dir, req.Mod.Path, filepath.ToSlash(want), got))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// Bump sets every sibling requirement to version.
func (r *Repo) Bump(version string) error {
	for _, m := range r.Modules {
		mf, err := r.modFile(m.Dir)
		if err != nil {
			return err
		}
		changed := false
		for _, req := range mf.Require {
			if _, ok := r.sibling(req.Mod.Path); ok && req.Mod.Version != version {
				if err := mf.AddRequire(req.Mod.Path, version); err != nil {
					return err
				}
				changed = true
			}
		}
		if !changed {
			continue
		}
		mf.Cleanup()
		data, err := mf.Format()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(r.Root, filepath.FromSlash(m.Dir), "go.mod"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Tags returns the git tags of a release: DIR/VERSION per module, as the go
// command expects for a module in a subdirectory.
func (r *Repo) Tags(version string) []string {
	var tags []string
	for _, m := range r.Modules {
		tags = append(tags, m.Dir+"/"+version)
	}
	slices.Sort(tags)
	return tags
}

// modulePathOK rejects a module whose path does not end in its directory:
// the go command finds a module in a subdirectory only that way.
func (r *Repo) modulePathOK(m Module) error {
	if !strings.HasSuffix(m.Path, "/"+m.Dir) {
		return fmt.Errorf("module %s in directory %s: its path must end in /%s to be found by the go command", m.Path, m.Dir, m.Dir)
	}
	return module.CheckPath(m.Path)
}
