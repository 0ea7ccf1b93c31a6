module github.com/jangada-io/jangada/apps/kvstore

go 1.26.0

replace (
	github.com/jangada-io/jangada/codec => ../../codec
	github.com/jangada-io/jangada/raft-core => ../../raft-core
	github.com/jangada-io/jangada/store-pebble => ../../store-pebble
	github.com/jangada-io/jangada/transport-mem => ../../transport-mem
	github.com/jangada-io/jangada/transport-quic => ../../transport-quic
)

require (
	github.com/jangada-io/jangada/raft-core v0.0.0
	github.com/jangada-io/jangada/transport-mem v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
)

require (
	go.etcd.io/raft/v3 v3.7.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
