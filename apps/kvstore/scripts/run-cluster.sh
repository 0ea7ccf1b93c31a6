#!/usr/bin/env bash
# Starts a local three-node kvstore cluster: QUIC on 127.0.0.1:7001-7003,
# HTTP on 127.0.0.1:8001-8003, pebble stores under $DATA_DIR/node{1,2,3}
# (default ./data). Runs until Ctrl-C, then stops every node gracefully
# (the leader hands leadership away first). Running it again reuses the
# data: the stored cluster state wins over --peers.
#
# Environment: DATA_DIR (default ./data), STORE (pebble, badger, wal or memory;
# default pebble), PRESET (default development).
set -euo pipefail

app=kvstore
app_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_data_dir=./data
raft_port=700
http_port=800

examples() {
	cat <<EOF
  curl -X PUT --data-binary hello http://127.0.0.1:8001/v1/kv/greeting
  curl -i http://127.0.0.1:8002/v1/kv/greeting
  curl -i 'http://127.0.0.1:8003/v1/kv/greeting?consistency=stale'
  curl -X PUT --data-binary again 'http://127.0.0.1:8001/v1/kv/greeting?if_version=0'   # 412: exists
  curl 'http://127.0.0.1:8001/v1/kv?prefix=gr&limit=10'
  curl -X DELETE http://127.0.0.1:8002/v1/kv/greeting
  curl http://127.0.0.1:8001/v1/status
  curl http://127.0.0.1:8001/metrics

  export KVSTORE_ENDPOINTS=$endpoints
  $bin put greeting hello
  $bin get greeting --show-version
  $bin list --prefix gr
  $bin del greeting
  $bin status
EOF
}

# shellcheck source=../../../scripts/run-cluster.sh
source "$app_dir/../../scripts/run-cluster.sh"
