# Shared by the apps' run-cluster.sh scripts, which set these and source it:
#   app               the binary, built from $app_dir/cmd/$app
#   app_dir           the app's module directory
#   default_data_dir  where data goes unless DATA_DIR says otherwise
#   raft_port, http_port  port prefixes: node N listens on ${raft_port}N (QUIC)
#                     and ${http_port}N (HTTP)
#   examples          a function printing commands to try ($bin, $endpoints)
# It starts three nodes in the background, waits for a leader, prints where
# everything is, and stays until Ctrl-C, which stops every node gracefully
# (a leader hands leadership away first). Running it again reuses the data:
# the stored cluster state wins over --peers.
#
# Environment: DATA_DIR, STORE (pebble, badger, wal or memory; default pebble),
# PRESET (default development).
#
# The HTTP API listens on loopback only and has no authentication (see the
# app's README for tokens and TLS); it answers only Host headers of
# localhost, 127.0.0.1 or [::1]. The data directory holds the cluster secret
# and the nodes' keys, so it is made private (mode 0700).

data_dir="${DATA_DIR:-$default_data_dir}"
store="${STORE:-pebble}"
preset="${PRESET:-development}"
(umask 077 && mkdir -p "$data_dir")
chmod 700 "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
bin="$data_dir/bin/$app"

echo "building $app..."
(cd "$app_dir" && go build -o "$bin" "./cmd/$app")

# The members authenticate each other with a shared secret, made on the
# first run and kept with the data in a file only its owner can read; the
# nodes read it from there (a secret on the command line shows in ps).
secret_file="$data_dir/cluster-secret"
if [[ ! -s "$secret_file" ]]; then
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secret_file")
fi

peers="1=127.0.0.1:${raft_port}1,2=127.0.0.1:${raft_port}2,3=127.0.0.1:${raft_port}3"
endpoints="127.0.0.1:${http_port}1,127.0.0.1:${http_port}2,127.0.0.1:${http_port}3"
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
		--listen "127.0.0.1:$raft_port$id" \
		--http "127.0.0.1:$http_port$id" \
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
			fail "node $((i + 1)) exited; see $data_dir/node$((i + 1)).log (is port $raft_port$((i + 1)) or $http_port$((i + 1)) in use?)"
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

$app cluster running; node $leader leads. Ctrl-C stops it.

Live status page: http://127.0.0.1:$http_port$leader/ui/  (every node serves its own at /ui/)

  node  raft (QUIC)      HTTP                   data                 log
  1     127.0.0.1:${raft_port}1   http://127.0.0.1:${http_port}1  $data_dir/node1  $data_dir/node1.log
  2     127.0.0.1:${raft_port}2   http://127.0.0.1:${http_port}2  $data_dir/node2  $data_dir/node2.log
  3     127.0.0.1:${raft_port}3   http://127.0.0.1:${http_port}3  $data_dir/node3  $data_dir/node3.log

Try:
EOF2
examples

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
