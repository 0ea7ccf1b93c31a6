#!/usr/bin/env bash
# Starts a local three-node bank cluster: QUIC on 127.0.0.1:7101-7103,
# HTTP on 127.0.0.1:8101-8103, pebble stores under $DATA_DIR/node{1,2,3}
# (default ./data-bank), beside the kvstore cluster of make run. Runs until
# Ctrl-C, then stops every node gracefully (the leader hands leadership away
# first). Running it again reuses the data.
#
# Environment: DATA_DIR (default ./data-bank), STORE (pebble, badger or
# memory; default pebble), PRESET (default development).
set -euo pipefail

app=bank
app_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_data_dir=./data-bank
raft_port=710
http_port=810

examples() {
	cat <<EOF
  curl -X POST -d '{"id":"alice","balance":100}' http://127.0.0.1:8101/v1/accounts
  curl -X POST -d '{"id":"bob","balance":0}' http://127.0.0.1:8102/v1/accounts
  curl -X POST -H 'Idempotency-Key: t-1' -d '{"from":"alice","to":"bob","amount":5}' http://127.0.0.1:8103/v1/transfers
  curl -X POST -H 'Idempotency-Key: t-1' -d '{"from":"alice","to":"bob","amount":5}' http://127.0.0.1:8101/v1/transfers   # the same transfer: not applied again
  curl -i -X POST -H 'Idempotency-Key: t-2' -d '{"from":"bob","to":"alice","amount":500}' http://127.0.0.1:8101/v1/transfers   # 409
  curl http://127.0.0.1:8102/v1/accounts
  curl http://127.0.0.1:8101/v1/accounts/alice
  curl http://127.0.0.1:8101/v1/status

  export BANK_ENDPOINTS=$endpoints
  $bin transfer alice bob 5
  $bin accounts
  $bin account bob
  $bin status
EOF
}

# shellcheck source=../../../scripts/run-cluster.sh
source "$app_dir/../../scripts/run-cluster.sh"
