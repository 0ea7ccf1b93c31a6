package main

import (
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore/app"
	"github.com/jangada-io/jangada/mgmt"
)

// addMgmtFlags adds the serve flags of cluster management (jangadactl).
func addMgmtFlags(f *pflag.FlagSet) {
	f.Bool("join", false, "start with an empty log and wait to be added to the cluster whose members --peers names (jangadactl member add)")
	f.String("admin-keys", "", "file of ed25519 public keys (one a line, as jangadactl keygen prints them) allowed to change the cluster with jangadactl")
}

// applyMgmtFlags sets cfg's management fields from the flags.
func applyMgmtFlags(f *pflag.FlagSet, cfg *app.Config) error {
	cfg.Join, _ = f.GetBool("join")
	path, _ := f.GetString("admin-keys")
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("admin keys: %w", err)
	}
	keys, err := mgmt.ParseKeyList(data)
	if err != nil {
		return fmt.Errorf("admin keys %s: %w", path, err)
	}
	for _, k := range keys {
		cfg.AdminKeys = append(cfg.AdminKeys, ed25519.PublicKey(k))
	}
	return nil
}
