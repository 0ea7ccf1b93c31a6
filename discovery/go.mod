module github.com/jangada-io/jangada/discovery

go 1.26

require (
	github.com/jangada-io/jangada/codec v0.1.0
	github.com/jangada-io/jangada/mgmt v0.1.0
	github.com/jangada-io/jangada/raft-core v0.1.0
	github.com/jangada-io/jangada/transport-mem v0.1.0
	github.com/miekg/dns v1.1.73
	go.uber.org/goleak v1.3.0
)

require (
	github.com/klauspost/compress v1.20.4 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/jangada-io/jangada/codec => ../codec
	github.com/jangada-io/jangada/mgmt => ../mgmt
	github.com/jangada-io/jangada/raft-core => ../raft-core
	github.com/jangada-io/jangada/transport-mem => ../transport-mem
)
