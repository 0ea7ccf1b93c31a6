package kvstore

// Version names the build; GET /v1/status reports it. Builds set it with
// the linker:
//
//	go build -ldflags "-X github.com/jangada-io/jangada/apps/kvstore.Version=v1.2.3" ./cmd/kvstore
var Version = "dev"
