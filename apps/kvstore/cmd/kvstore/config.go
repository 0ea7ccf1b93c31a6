package main

import (
	"github.com/spf13/cobra"

	"github.com/jangada-io/jangada/apps/kvstore/app/serveflags"
)

// envPrefix starts the environment variable of every flag: --data-dir is
// KVSTORE_DATA_DIR.
const envPrefix = "KVSTORE_"

// applyConfigSources fills every flag not given on the command line from
// its KVSTORE_* environment variable, else from the config file (--config or
// KVSTORE_CONFIG). Command-line flags win over the environment, which wins
// over the file.
func applyConfigSources(cmd *cobra.Command) error { return serveflags.ApplySources(cmd, envPrefix) }
