module github.com/jangada-io/jangada/examples

go 1.26.0

require (
	github.com/jangada-io/jangada/raft-core v0.1.0
	github.com/jangada-io/jangada/transport-mem v0.1.0
)

require (
	go.etcd.io/raft/v3 v3.7.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/jangada-io/jangada/raft-core => ../raft-core
	github.com/jangada-io/jangada/transport-mem => ../transport-mem
)
