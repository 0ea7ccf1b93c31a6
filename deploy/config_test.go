package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimalConfig = `cluster_name: demo
nodes:
  - {node_id: 1, hostname: 127.0.0.1, port: 7001, http_port: 8001}
  - {node_id: 2, hostname: 127.0.0.1, port: 7002, http_port: 8002}
  - {node_id: 3, hostname: 127.0.0.1, port: 7003, http_port: 8003}
`

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClusterName != "demo" || cfg.Replicas != 3 || len(cfg.Nodes) != 5 || cfg.Nodes[0].Resources.MaxMemoryMB != 512 {
		t.Fatalf("loaded %+v", cfg)
	}
	abs, _ := filepath.Abs(filepath.Join("..", "data", "bin", "kvstore"))
	if got := cfg.Path(cfg.Binary); got != abs {
		t.Fatalf("binary resolves to %s, want %s (relative to the config file)", got, abs)
	}
}

func TestDefaultsComeFromTheEnvironmentPreset(t *testing.T) {
	tests := []struct {
		env        string
		raftPreset string
		maxLag     uint64
	}{
		{"", "development", 1000}, // development is the default environment
		{"testing", "testing", 200},
		{"staging", "production", 100},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			data := minimalConfig
			if tt.env != "" {
				data += "environment: " + tt.env + "\n"
			}
			cfg, err := Parse([]byte(data), "/base")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RaftPreset != tt.raftPreset || cfg.Update.MaxLag != tt.maxLag || cfg.Replicas != 3 || cfg.Store != "pebble" {
				t.Fatalf("preset %q, max lag %d, replicas %d, store %q", cfg.RaftPreset, cfg.Update.MaxLag, cfg.Replicas, cfg.Store)
			}
			if cfg.Nodes[1].DataDir != filepath.Join("data", "node2") || cfg.Path(cfg.Nodes[1].DataDir) != "/base/data/node2" {
				t.Fatalf("data dir %q resolves to %q", cfg.Nodes[1].DataDir, cfg.Path(cfg.Nodes[1].DataDir))
			}
		})
	}
}

// TestInvalidConfigsNameTheFieldAndTheFix: every problem is reported with
// the field, what is wrong and what would be right.
func TestInvalidConfigsNameTheFieldAndTheFix(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"unknown key", minimalConfig + "replica: 3\n", []string{`unknown field "replica"`}},
		{"unknown node key", strings.Replace(minimalConfig, "http_port: 8003", "http_port: 8003, cpu: 2", 1), []string{`unknown field "cpu"`}},
		{"bad port", strings.Replace(minimalConfig, "port: 7002", "port: 70000", 1), []string{"nodes[1].port: 70000 is not a port; want a number from 1 to 65535"}},
		{"duplicate id", strings.Replace(minimalConfig, "node_id: 3", "node_id: 2", 1), []string{"nodes[2].node_id: 2 is also nodes[1]'s id; want a unique id"}},
		{"duplicate port", strings.Replace(minimalConfig, "http_port: 8003", "http_port: 8002", 1), []string{"nodes[2].http_port: tcp 127.0.0.1:8002 is also nodes[1].http_port"}},
		{"cluster name", strings.Replace(minimalConfig, "demo", "My_Cluster", 1), []string{`cluster_name: "My_Cluster" is not a DNS label; want 1-40 lowercase`}},
		{"environment", minimalConfig + "environment: prod\n", []string{`environment: unknown environment "prod"; want development, testing, staging or production`}},
		{"replicas", minimalConfig + "replicas: 4\n", []string{"replicas: 4 with 3 nodes listed; want 1 to 3"}},
		{"production needs odd voters and memory caps", minimalConfig + "environment: production\nreplicas: 2\n", []string{
			"replicas: 2 voters in production; want at least 3",
			"replicas: 2 voters tolerate no more failures than 1; want an odd number",
			"nodes[0].resources.max_memory_mb: no memory limit in production",
		}},
		{"backup schedule", minimalConfig + "backup: {enabled: true, schedule: \"0 25 * * *\", storage_location: /b}\n", []string{`backup.schedule: hour field "25": want 0-23; want five cron fields`}},
		{"backup location", minimalConfig + "backup: {enabled: true, schedule: \"0 2 * * *\"}\n", []string{"backup.storage_location: missing with backups enabled"}},
		{"secret on the command line", minimalConfig + "extra_args: [--cluster-secret, x]\n", []string{"extra_args[0]: a cluster secret on the command line is visible to every user in ps; want cluster_secret_file"}},
		{"owned flag", minimalConfig + "extra_args: [--id=4]\n", []string{"extra_args[0]: --id is set by the deploy tool"}},
		{"store", minimalConfig + "store: memory\n", []string{`store: unknown store "memory"; want pebble, badger or wal`}},
		{"no nodes", "cluster_name: demo\n", []string{"nodes: no nodes; want at least one entry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/base")
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v, want one wrapping ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLocalDriverNeedsABinaryAndAPrivateSecret(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(minimalConfig+"binary: ./missing\ncluster_secret_file: secret\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewLocal(cfg, LocalConfig{Dial: func() DialFunc { return nil }()})
	if err == nil || !strings.Contains(err.Error(), "LocalConfig.Dial is required") {
		t.Fatalf("without Dial: %v", err)
	}
	err = cfg.checkLocal()
	for _, w := range []string{"binary: " + filepath.Join(dir, "missing") + " is not an executable file", "cluster_secret_file: " + secret + " has mode -rw-r--r--: other users may read it"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

func TestCronShapes(t *testing.T) {
	for _, ok := range []string{"0 2 * * *", "*/15 * * * 1-5", "0 0,12 1 */2 0"} {
		if err := checkCron(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0 2 * *", "60 * * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "a * * * *"} {
		if err := checkCron(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
