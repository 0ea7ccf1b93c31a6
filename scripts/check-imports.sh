#!/usr/bin/env bash
# Enforces DESIGN.md's one direction of imports: each module may require only
# the sibling modules listed for it, raft-core stays lean, and libraries never
# import fx. Usage: check-imports.sh MODULE...
set -euo pipefail
root=github.com/jangada-io/jangada

allowed() {
	case "$1" in
	raft-core | codec) echo "" ;;
	transport-mem | observe) echo "raft-core" ;;
	discovery) echo "raft-core codec mgmt transport-mem" ;; # transport-mem in its tests only
	transport-quic | store-snapfile | mgmt | backup) echo "raft-core codec" ;;
	store-pebble | store-badger) echo "raft-core codec store-snapfile" ;; # the shared snapshot files
	deploy) echo "raft-core codec mgmt" ;;
	*) echo "*" ;; # apps and bench may use everything
	esac
}

fail=0
for m in "$@"; do
	ok=$(allowed "$m")
	deps=$(cd "$m" && go list -m -f '{{if not .Main}}{{.Path}}{{end}}' all 2>/dev/null | sed -n "s#^$root/##p" || true)
	if [ "$ok" != "*" ]; then
		for d in $deps; do
			if ! [[ " $ok " == *" $d "* ]]; then
				echo "$m must not depend on $d (DESIGN.md module map)"
				fail=1
			fi
		done
		if grep -rqs --include='*.go' '"go.uber.org/fx' "$m"; then
			echo "$m is a library and must not import go.uber.org/fx"
			fail=1
		fi
	fi
done
if grep -qE 'quic-go|pebble|badger|prometheus|opentelemetry|go.uber.org/fx' raft-core/go.mod; then
	echo "raft-core/go.mod requires a heavy dependency"
	fail=1
fi
exit $fail
