module github.com/jangada-io/jangada/mgmt

go 1.26

require (
	github.com/jangada-io/jangada/codec v0.1.0
	github.com/jangada-io/jangada/raft-core v0.1.0
	github.com/klauspost/compress v1.20.4
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
)

require google.golang.org/protobuf v1.36.11 // indirect

replace (
	github.com/jangada-io/jangada/codec => ../codec
	github.com/jangada-io/jangada/raft-core => ../raft-core
)
