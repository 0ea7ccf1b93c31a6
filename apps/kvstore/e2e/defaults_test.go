package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
	"github.com/jangada-io/jangada/raft-core/clustertest"
)

// TestServeWithoutFlagsRunsOneNodeInDotData starts `kvstore serve` with no
// flags in an empty directory. Only the ports come from KVSTORE_LISTEN and
// KVSTORE_HTTP, so that the test does not depend on 7001 and 8001 being
// free; everything else is the default: one node, QUIC, pebble, ./data.
func TestServeWithoutFlagsRunsOneNodeInDotData(t *testing.T) {
	dir := t.TempDir()
	httpAddr := kvtest.FreeTCPAddr(t)
	cmd := exec.Command(binary, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KVSTORE_LISTEN="+kvtest.FreeUDPAddr(t), "KVSTORE_HTTP="+httpAddr)
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("serve log:\n%s", out)
		}
	})

	httpTransport := &http.Transport{}
	defer httpTransport.CloseIdleConnections()
	cl, err := kvstore.NewClient(kvstore.ClientConfig{Endpoints: []string{httpAddr}, HTTPClient: &http.Client{Transport: httpTransport}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st kvstore.StatusResponse
	// The production preset elects a single node within about a second.
	clustertest.WaitFor(t, "the node to lead", 15*time.Second, func() bool {
		st, err = cl.Status(ctx)
		return err == nil && st.Leader == 1
	})
	if len(st.Members) != 1 || st.Members[0].ID != 1 {
		t.Fatalf("members %+v, want node 1 alone", st.Members)
	}
	if _, err := cl.Put(ctx, "k", []byte("v"), kvstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"data/node.key", "data/raft", "data/snapshots"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("default data directory: %v", err)
		}
	}
	for _, p := range []string{"data", "data/snapshots"} {
		if info, err := os.Stat(filepath.Join(dir, p)); err == nil && info.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", p, info.Mode().Perm())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("exit after SIGINT: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGINT")
	}
}
