module github.com/jangada-io/jangada/mgmt/cmd/jangadactl

go 1.26.0

require (
	github.com/jangada-io/jangada/discovery v0.0.0
	github.com/jangada-io/jangada/mgmt v0.0.0
	github.com/jangada-io/jangada/raft-core v0.0.0
	github.com/jangada-io/jangada/transport-quic v0.0.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	go.uber.org/goleak v1.3.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/jangada-io/jangada/codec v0.0.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/quic-go/quic-go v0.65.0 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/jangada-io/jangada/codec => ../../../codec
	github.com/jangada-io/jangada/discovery => ../../../discovery
	github.com/jangada-io/jangada/mgmt => ../..
	github.com/jangada-io/jangada/raft-core => ../../../raft-core
	github.com/jangada-io/jangada/transport-mem => ../../../transport-mem
	github.com/jangada-io/jangada/transport-quic => ../../../transport-quic
)
