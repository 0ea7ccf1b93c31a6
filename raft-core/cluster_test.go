package raftcore_test

import (
	"testing"

	"github.com/jangada-io/jangada/raft-core/clustertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestClusterScenarios(t *testing.T) {
	clustertest.Run(t, clustertest.Options{NewNetwork: clustertest.NewLoopback})
}
