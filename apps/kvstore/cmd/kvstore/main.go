// Command kvstore runs a node of jangada's replicated key-value store and
// talks to a running cluster.
//
//	kvstore serve                                  # one node in ./data
//	kvstore serve --id 1 --data-dir data/node1 --listen 127.0.0.1:7001 --http 127.0.0.1:8001 \
//	    --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --cluster-secret-file secret
//	kvstore put greeting hello --endpoints 127.0.0.1:8001,127.0.0.1:8002
//	kvstore get greeting
//	kvstore list --prefix gr
//	kvstore status
//
// Every flag can also be set by a KVSTORE_* environment variable
// (--data-dir is KVSTORE_DATA_DIR) or a "name = value" line of the file
// named by --config; flags win over the environment, which wins over the
// file. Files that hold secrets (the config file, --cluster-secret-file,
// --http-tokens-file, TLS keys, --token-file) must not be accessible to
// group or others (chmod 600).
package main

import (
	"fmt"
	"os"
)

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvstore:", err)
	}
	os.Exit(code)
}
