module github.com/jangada-io/jangada/transport-quic

go 1.26.0

require (
	github.com/jangada-io/jangada/codec v0.1.0
	github.com/jangada-io/jangada/raft-core v0.1.0
	github.com/quic-go/quic-go v0.65.0
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.11
)

require (
	github.com/klauspost/compress v1.20.4 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace (
	github.com/jangada-io/jangada/codec => ../codec
	github.com/jangada-io/jangada/raft-core => ../raft-core
)
