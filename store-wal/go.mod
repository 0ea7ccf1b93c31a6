module github.com/jangada-io/jangada/store-wal

go 1.26.0

require (
	github.com/jangada-io/jangada/raft-core v0.1.0
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
)

require google.golang.org/protobuf v1.36.11 // indirect

replace github.com/jangada-io/jangada/raft-core => ../raft-core
