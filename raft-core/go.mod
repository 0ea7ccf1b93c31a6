module github.com/jangada-io/jangada/raft-core

go 1.26

require (
	go.etcd.io/raft/v3 v3.7.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.11
)

require github.com/anishathalye/porcupine v1.3.1

require pgregory.net/rapid v1.3.0
