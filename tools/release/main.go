// Command release versions jangada's modules together. Every module of the
// repository (go.work lists them) requires its siblings at the release
// version, with a replace directive to the sibling's directory for work
// inside the repository; a user outside it gets the tagged versions.
//
//	release check -version v0.2.0          every sibling requirement is at v0.2.0 and replaced locally
//	release bump -version v0.2.0           rewrite the requirements to v0.2.0
//	release tags -version v0.2.0           print the tags to create: raft-core/v0.2.0, …
//	release proxy -version v0.2.0 -out DIR write a file-based GOPROXY serving every module at v0.2.0
//	                                       from the working tree (GOPROXY=file://DIR)
//
// `make release VERSION=v0.2.0` runs bump, make check, commits and tags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: release check|bump|tags|proxy -version vX.Y.Z [-root DIR] [-out DIR]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	version := fs.String("version", "", "the release version, vX.Y.Z")
	root := fs.String("root", ".", "the repository root (where go.work is)")
	out := fs.String("out", "", "proxy: the directory to write the GOPROXY into")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	repo, err := LoadRepo(*root)
	if err != nil {
		return err
	}
	if err := CheckVersion(*version); err != nil {
		return err
	}
	switch args[0] {
	case "check":
		return repo.Check(*version)
	case "bump":
		return repo.Bump(*version)
	case "tags":
		for _, t := range repo.Tags(*version) {
			fmt.Println(t)
		}
		return nil
	case "proxy":
		if *out == "" {
			return errors.New("proxy: -out DIR is required")
		}
		return repo.WriteProxy(*version, *out)
	}
	return fmt.Errorf("unknown command %q (want check, bump, tags or proxy)", args[0])
}
