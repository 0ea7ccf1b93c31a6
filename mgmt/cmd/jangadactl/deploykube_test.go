package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeployUpdateKubernetesRefusesMixedOrMissingFlags(t *testing.T) {
	example := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "kubernetes"}, "give --image IMAGE or --rollback"},
		{[]string{"--target", "kubernetes", "--image", "x:1", "--rollback"}, "give --image IMAGE or --rollback"},
		{[]string{"--target", "kubernetes", "--binary", "bin/kvstore"}, "updates to an --image, not a --binary"},
		{[]string{"--image", "x:1"}, "go with --target kubernetes"},
		{[]string{"--target", "systemd", "--binary", "x"}, `--target "systemd": want local or kubernetes`},
	} {
		code, _, err := runDeploy(t, append([]string{"update", "-f", example}, tc.args...)...)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("update %v: exit %d, %v; want %d with %q", tc.args, code, err, exitUsage, tc.want)
		}
	}
}

func TestDeployUpdateKubernetesNeedsAReachableAPIServer(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join("..", "..", "..", "deploy", "examples", "cluster.yaml")
	code, _, err := runDeploy(t, "update", "-f", example, "--target", "kubernetes", "--image", "x:1",
		"--kubeconfig", kubeconfig, "--cluster-secret-file", secret)
	if code == exitOK || err == nil || !strings.Contains(err.Error(), "kube: client config") {
		t.Fatalf("update with an empty kubeconfig: exit %d, %v; want the client config's error", code, err)
	}
}
