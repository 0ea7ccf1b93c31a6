package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDeploy(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	var out bytes.Buffer
	code, err := run(context.Background(), append([]string{"deploy"}, args...), &out)
	return code, out.String(), err
}

func TestDeployValidateReportsEveryProblemAsBadUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	bad := "cluster_name: demo\nenvironment: production\nnodes:\n  - {node_id: 1, hostname: 127.0.0.1, port: 0, http_port: 8001}\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, err := runDeploy(t, "validate", "-f", path)
	if code != exitUsage || err == nil {
		t.Fatalf("exit %d, %v; want %d", code, err, exitUsage)
	}
	for _, want := range []string{"nodes[0].port: 0 is not a port", "replicas: 1 voters in production", "nodes[0].resources.max_memory_mb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	code, out, err := runDeploy(t, "validate", "-f", filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml"))
	if code != exitOK || !strings.Contains(out, "valid (development, 3 voters)") {
		t.Fatalf("the example: exit %d, %q, %v", code, out, err)
	}
}

func TestDeployRenderWritesTheTargetsFiles(t *testing.T) {
	example := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	for target, want := range map[string][]string{
		"systemd":    {"jangada-demo-node1.service", "node3.env"},
		"kubernetes": {"statefulset.yaml", "services.yaml", "pdb.yaml", "rbac.yaml", "servicemonitor.yaml"},
	} {
		dir := t.TempDir()
		if code, out, err := runDeploy(t, "render", "-f", example, "--target", target, "-o", dir); code != exitOK {
			t.Fatalf("render %s: exit %d, %q, %v", target, code, out, err)
		}
		for _, name := range want {
			golden, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "examples", target, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, golden) {
				t.Errorf("%s/%s differs from deploy/examples (%v)", target, name, err)
			}
		}
	}
	if code, _, _ := runDeploy(t, "render", "-f", example, "--target", "nomad", "-o", t.TempDir()); code != exitUsage {
		t.Errorf("render --target nomad: exit %d, want %d", code, exitUsage)
	}
}

func TestDeployUpdateNeedsABinaryOrRollback(t *testing.T) {
	if code, _, err := runDeploy(t, "update", "-f", "missing.yaml"); code != exitUsage || !strings.Contains(err.Error(), "--binary PATH or --rollback") {
		t.Fatalf("update without --binary: exit %d, %v", code, err)
	}
}
