package deploy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the rendered files in examples/ (the golden files)")

func exampleConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join("examples", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRenderedExamplesAreCurrent compares what Render makes of
// examples/cluster.yaml with the files in examples/ (go test -update
// rewrites them).
func TestRenderedExamplesAreCurrent(t *testing.T) {
	cfg := exampleConfig(t)
	for _, target := range []string{TargetSystemd, TargetKubernetes} {
		t.Run(target, func(t *testing.T) {
			files, err := Render(cfg, target)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("examples", target)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := WriteFiles(dir, files); err != nil {
					t.Fatal(err)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(files) {
				t.Errorf("%s holds %d files, Render makes %d", dir, len(entries), len(files))
			}
			for _, f := range files {
				golden, err := os.ReadFile(filepath.Join(dir, f.Path))
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if !bytes.Equal(golden, f.Data) {
					t.Errorf("%s differs from what Render makes (go test -update rewrites it):\n%s", f.Path, f.Data)
				}
			}
		})
	}
}

func TestSystemdUnitsAndEnvFiles(t *testing.T) {
	cfg := exampleConfig(t)
	files, err := Render(cfg, TargetSystemd)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, f := range files {
		byName[f.Path] = string(f.Data)
	}
	unit := byName["jangada-demo-node2.service"]
	for _, want := range []string{"EnvironmentFile=/etc/jangada/demo/node2.env", "ExecStart=/usr/local/bin/kvstore serve", "KillSignal=SIGTERM", "MemoryMax=512M", "LimitNOFILE=2024", "User=jangada", "StateDirectory=jangada/demo/node2"} {
		if !strings.Contains(unit, want) {
			t.Errorf("node 2's unit lacks %q:\n%s", want, unit)
		}
	}
	env := byName["node2.env"]
	for _, want := range []string{"KVSTORE_ID=2\n", "KVSTORE_LISTEN=127.0.0.1:7102\n", "KVSTORE_PEERS=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103\n", "KVSTORE_CLUSTER_SECRET_FILE=/etc/jangada/demo/cluster-secret\n", "GOMEMLIMIT=460MiB\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("node2.env lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "KVSTORE_JOIN") {
		t.Errorf("bootstrap member 2 starts with --join:\n%s", env)
	}
	if !strings.Contains(byName["node4.env"], "KVSTORE_JOIN=true\n") {
		t.Errorf("scaling slot 4 does not start with --join:\n%s", byName["node4.env"])
	}
	for name, data := range byName {
		if strings.Contains(data, "KVSTORE_CLUSTER_SECRET=") {
			t.Errorf("%s carries a cluster secret", name)
		}
	}
}

func TestRenderRefusesAnUnknownTarget(t *testing.T) {
	if _, err := Render(exampleConfig(t), "nomad"); err == nil || !strings.Contains(err.Error(), "want systemd or kubernetes") {
		t.Fatalf("render nomad: %v", err)
	}
}

// TestRenderAppliesDefaultsToAConfigBuiltInGo: a Config that did not come
// from Parse gets the defaults, not a panic.
func TestRenderAppliesDefaultsToAConfigBuiltInGo(t *testing.T) {
	cfg := &Config{ClusterName: "go", Nodes: []Node{{NodeID: 1, Hostname: "10.0.0.1", Port: 7001, HTTPPort: 8001}}, Kubernetes: Kubernetes{Image: "img"}}
	for _, target := range []string{TargetSystemd, TargetKubernetes} {
		if _, err := Render(cfg, target); err != nil {
			t.Errorf("%s: %v", target, err)
		}
	}
	if _, err := Render(&Config{ClusterName: "go"}, TargetSystemd); err == nil || !strings.Contains(err.Error(), "nodes: no nodes") {
		t.Errorf("render of a config without nodes: %v", err)
	}
}

// TestBackupPolicyReachesTheNodes: with backups enabled every node gets
// kvstore's scheduled-backup flags, from each driver and renderer.
func TestBackupPolicyReachesTheNodes(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Backup.Enabled, cfg.Backup.Schedule, cfg.Backup.StorageLocation, cfg.Backup.RetentionCount = true, "0 2 * * *", "s3://backups/demo", 5
	want := []string{"--backup-schedule", "0 2 * * *", "--backup-to", "s3://backups/demo", "--backup-retain", "5"}
	l := &Local{cfg: cfg}
	if args := strings.Join(l.args(cfg.Nodes[0], cfg.Nodes, false), " "); !strings.Contains(args, strings.Join(want, " ")) {
		t.Errorf("local driver's serve flags %q lack %q", args, want)
	}
	files, err := Render(cfg, TargetSystemd)
	if err != nil {
		t.Fatal(err)
	}
	var env string
	for _, f := range files {
		if f.Path == "node1.env" {
			env = string(f.Data)
		}
	}
	for _, line := range []string{"KVSTORE_BACKUP_SCHEDULE=0 2 * * *\n", "KVSTORE_BACKUP_TO=s3://backups/demo\n", "KVSTORE_BACKUP_RETAIN=5\n"} {
		if !strings.Contains(env, line) {
			t.Errorf("node1.env lacks %q:\n%s", line, env)
		}
	}
	if files, err = Render(cfg, TargetKubernetes); err != nil {
		t.Fatal(err)
	}
	var sts string
	for _, f := range files {
		if strings.Contains(f.Path, "statefulset") {
			sts = string(f.Data)
		}
	}
	if !strings.Contains(sts, "--backup-schedule") || !strings.Contains(sts, "s3://backups/demo") {
		t.Errorf("the StatefulSet's command lacks the backup flags:\n%s", sts)
	}
	cfg.Backup.Enabled = false
	if args := strings.Join(l.args(cfg.Nodes[0], cfg.Nodes, false), " "); strings.Contains(args, "--backup") {
		t.Errorf("backups disabled, yet the serve flags are %q", args)
	}
}
