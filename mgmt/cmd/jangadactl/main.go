// Command jangadactl manages a running jangada cluster over jangada/mgmt/1
// (QUIC, the members' own endpoint): status, membership, leadership,
// snapshots, health and events.
//
//	jangadactl --endpoints 127.0.0.1:7001,127.0.0.1:7002 --cluster-secret-file data/cluster-secret status
//	jangadactl --identity admin.key member add 4 127.0.0.1:7004 --key KEY --learner
//	jangadactl member promote 4
//	jangadactl leader transfer 4
//	jangadactl events --follow --since 12
//	jangadactl keygen --out admin.key
//	jangadactl ticket create --role voter --out node4.ticket
//	jangadactl --discover dns-srv:_raft._udp.kv.default.svc.cluster.local discover
//
// Credentials: --cluster-secret-file (the secret's holder is an admin) or
// --identity KEYFILE (an ed25519 key made by keygen, listed in the nodes'
// admin keys). Endpoints are HOST:PORT, or KEY@HOST:PORT when the nodes
// authenticate by pinned keys. Every flag can also be set by a JANGADACTL_*
// environment variable (--endpoints is JANGADACTL_ENDPOINTS).
//
// Exit codes: 0 success; 1 any other error; 2 bad usage; 3 unauthorized
// (by the server, or refused in the TLS handshake); 4 not found; 5 conflict;
// 6 unavailable (no leader, no endpoint answered, timeout); 7 a health
// check fails.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Ctrl-C or SIGTERM ends a command; `events --follow` then exits 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jangadactl:", err)
	}
	os.Exit(code)
}
