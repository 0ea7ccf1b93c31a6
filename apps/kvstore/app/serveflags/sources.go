package serveflags

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jangada-io/jangada/apps/kvstore/app"
)

// EnvName returns the environment variable that sets flag name:
// EnvName("KVSTORE_", "data-dir") is KVSTORE_DATA_DIR.
func EnvName(envPrefix, name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ApplySources fills every flag of cmd not given on the command line from
// its environment variable (envPrefix and the flag's name), else from the
// config file named by a "config" flag, if cmd has one, or its variable.
// Command-line flags win over the environment, which wins over the file.
// The file, "name = value" lines, may hold the cluster secret, so it is
// refused if group or others may access it.
func ApplySources(cmd *cobra.Command, envPrefix string) error {
	envName := func(name string) string { return EnvName(envPrefix, name) }
	path, _ := cmd.Flags().GetString("config")
	if cmd.Flags().Lookup("config") != nil && !cmd.Flags().Changed("config") {
		if v, ok := os.LookupEnv(envName("config")); ok {
			path = v
		}
	}
	file := map[string]string{}
	if path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return err
		}
	}
	var errs []error
	known := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		source := envName(f.Name)
		if !ok {
			v, ok = file[f.Name]
			source = path
		}
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", source, f.Name, err))
		}
	})
	for name := range file {
		if !known[name] {
			errs = append(errs, fmt.Errorf("%s: unknown setting %q for %s", path, name, cmd.CommandPath()))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// readConfigFile reads "name = value" (or "name: value") lines, where name
// is a flag's long name; blank lines and lines starting with # are skipped
// and values may be quoted. The file may hold the cluster secret, so it is
// refused if group or others may access it.
func readConfigFile(path string) (map[string]string, error) {
	data, err := app.ReadPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		i := strings.IndexAny(text, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: want name = value", path, line)
		}
		name := strings.TrimSpace(text[:i])
		value := strings.TrimSpace(text[i+1:])
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return out, nil
}
