module github.com/jangada-io/jangada/deploy/integration

go 1.26.0

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/jangada-io/jangada/deploy v0.0.0
	github.com/jangada-io/jangada/mgmt v0.0.0
	github.com/jangada-io/jangada/raft-core v0.0.0
	github.com/jangada-io/jangada/transport-quic v0.0.0
)

require (
	github.com/jangada-io/jangada/codec v0.0.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/quic-go/quic-go v0.65.0 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)

replace (
	github.com/jangada-io/jangada/codec => ../../codec
	github.com/jangada-io/jangada/deploy => ..
	github.com/jangada-io/jangada/mgmt => ../../mgmt
	github.com/jangada-io/jangada/raft-core => ../../raft-core
	github.com/jangada-io/jangada/transport-quic => ../../transport-quic
)
