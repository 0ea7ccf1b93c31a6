package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/jangada-io/jangada/apps/kvstore"
	"github.com/jangada-io/jangada/apps/kvstore/kvtest"
)

// binary is the kvstore command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kvstore-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kvstore")
	if err := kvtest.BuildKVStore(binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// cluster is a set of kvstore processes on loopback; node is one of them.
type (
	cluster = kvtest.Cluster
	node    = kvtest.Node
)

// newCluster starts n kvstore nodes authenticated by a cluster secret.
func newCluster(t testing.TB, n int, store string, extra ...string) *cluster {
	t.Helper()
	return kvtest.NewCluster(t, binary, n, store, extra...)
}

// prepareCluster picks n kvstore nodes' ports and directories; nothing
// runs yet.
func prepareCluster(t testing.TB, n int, store string, extra ...string) *cluster {
	t.Helper()
	return kvtest.PrepareCluster(t, binary, n, store, extra...)
}

// isUnavailable reports whether err means "try again": a connection error
// or a 503.
func isUnavailable(err error) bool {
	var apiErr *kvstore.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable || apiErr.Status == http.StatusGatewayTimeout
	}
	return err != nil
}
