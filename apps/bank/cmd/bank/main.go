// Command bank runs a node of jangada's replicated bank and talks to a
// running cluster.
//
//	bank serve                                     # one node in ./data
//	bank serve --id 1 --data-dir data/node1 --listen 127.0.0.1:7101 --http 127.0.0.1:8101 \
//	    --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --cluster-secret-file secret
//	bank create-account alice 100 --endpoints 127.0.0.1:8101,127.0.0.1:8102
//	bank transfer alice bob 5
//	bank accounts
//	bank account alice
//	bank status
//
// serve takes the key-value store's serve flags (kvstore serve --help), on
// the same wiring; every flag can also be set by a BANK_* environment
// variable (--data-dir is BANK_DATA_DIR). Files that hold secrets
// (--cluster-secret-file, --http-tokens-file, TLS keys, --token-file) must
// not be accessible to group or others (chmod 600).
package main

import (
	"fmt"
	"os"
)

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
	}
	os.Exit(code)
}
