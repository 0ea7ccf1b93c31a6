module github.com/jangada-io/jangada/deploy

go 1.26.0

require (
	github.com/jangada-io/jangada/mgmt v0.1.0
	github.com/jangada-io/jangada/raft-core v0.1.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc // indirect
	github.com/jangada-io/jangada/codec v0.1.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2 // indirect
	go.etcd.io/raft/v3 v3.7.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	go.yaml.in/yaml/v3 v3.0.4 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	github.com/jangada-io/jangada/codec => ../codec
	github.com/jangada-io/jangada/mgmt => ../mgmt
	github.com/jangada-io/jangada/raft-core => ../raft-core
)
