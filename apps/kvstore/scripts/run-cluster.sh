#!/usr/bin/env bash
# Starts a local three-node kvstore cluster: QUIC on 127.0.0.1:7001-7003,
# HTTP on 127.0.0.1:8001-8003, pebble stores under $DATA_DIR/node{1,2,3}
# (default ./data). Runs until Ctrl-C, then stops every node gracefully
# (the leader hands leadership away first). Running it again reuses the
# data: the stored cluster state wins over --peers.
#
# Environment: DATA_DIR (default ./data), STORE (pebble, badger or memory;
# default pebble), PRESET (default development).
#
# The HTTP API listens on loopback only and has no authentication (see the
# README for tokens and TLS); it answers only Host headers of localhost,
# 127.0.0.1 or [::1]. The data directory holds the cluster secret and the
# nodes' keys, so it is made private (mode 0700).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module_dir="$(dirname "$script_dir")"
data_dir="${DATA_DIR:-./data}"
store="${STORE:-pebble}"
preset="${PRESET:-development}"
(umask 077 && mkdir -p "$data_dir")
chmod 700 "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
bin="$data_dir/bin/kvstore"

echo "building kvstore..."
(cd "$module_dir" && go build -o "$bin" ./cmd/kvstore)

# The members authenticate each other with a shared secret, made on the
# first run and kept with the data in a file only its owner can read; the
# nodes read it from there (a secret on the command line shows in ps).
secret_file="$data_dir/cluster-secret"
if [[ ! -s "$secret_file" ]]; then
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secret_file")
fi

peers="1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
endpoints="127.0.0.1:8001,127.0.0.1:8002,127.0.0.1:8003"
pids=()

# alive reports whether process $1 runs (an exited child not yet waited
# for still answers kill -0).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	if [[ -r "/proc/$1/stat" ]]; then
		[[ "$(cut -d' ' -f3 "/proc/$1/stat")" != Z ]]
	fi
}

stop_all() {
	trap - INT TERM
	echo
	echo "stopping the cluster, one node at a time (a leader hands leadership away first)..."
	for pid in "${pids[@]}"; do
		if [[ "$pid" != "-" ]]; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	echo "stopped; data kept in $data_dir"
}

fail() {
	echo "error: $*" >&2
	stop_all
	exit 1
}

trap 'stop_all; exit 0' INT TERM

# Each node gets a process group of its own, so Ctrl-C reaches only this
# script, which then stops the nodes one signal each.
set -m

for id in 1 2 3; do
	"$bin" serve \
		--cluster-secret-file "$secret_file" \
		--id "$id" \
		--data-dir "$data_dir/node$id" \
		--listen "127.0.0.1:700$id" \
		--http "127.0.0.1:800$id" \
		--peers "$peers" \
		--store "$store" \
		--preset "$preset" \
		>>"$data_dir/node$id.log" 2>&1 &
	pids+=("$!")
done

echo "waiting for a leader..."
leader=""
for _ in $(seq 1 150); do
	for i in 0 1 2; do
		if ! alive "${pids[$i]}"; then
			tail -n 20 "$data_dir/node$((i + 1)).log" >&2 || true
			fail "node $((i + 1)) exited; see $data_dir/node$((i + 1)).log (is port 700$((i + 1)) or 800$((i + 1)) in use?)"
		fi
	done
	if status="$("$bin" status --endpoints "$endpoints" --timeout 1s 2>/dev/null)"; then
		leader="$(sed -n 's/^  "leader": \([1-9][0-9]*\),$/\1/p' <<<"$status")"
		[[ -n "$leader" ]] && break
	fi
	sleep 0.2
done
[[ -n "$leader" ]] || fail "no leader after 30s; see the logs in $data_dir"

cat <<EOF2

kvstore cluster running; node $leader leads. Ctrl-C stops it.

Live status page: http://127.0.0.1:800$leader/ui/  (every node serves its own at /ui/)

  node  raft (QUIC)      HTTP                   data                 log
  1     127.0.0.1:7001   http://127.0.0.1:8001  $data_dir/node1  $data_dir/node1.log
  2     127.0.0.1:7002   http://127.0.0.1:8002  $data_dir/node2  $data_dir/node2.log
  3     127.0.0.1:7003   http://127.0.0.1:8003  $data_dir/node3  $data_dir/node3.log

Try:
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
EOF2

# Stay up until Ctrl-C; if a node dies on its own, say so and keep the
# others running (the cluster tolerates one failure).
while true; do
	for i in 0 1 2; do
		pid="${pids[$i]}"
		if [[ "$pid" != "-" ]] && ! alive "$pid"; then
			echo "node $((i + 1)) exited; see $data_dir/node$((i + 1)).log" >&2
			pids[i]="-"
		fi
	done
	sleep 1 &
	wait "$!" || true
done
