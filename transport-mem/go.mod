module github.com/jangada-io/jangada/transport-mem

go 1.26

require (
	github.com/jangada-io/jangada/raft-core v0.1.0
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.11
)

replace github.com/jangada-io/jangada/raft-core => ../raft-core
