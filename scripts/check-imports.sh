#!/usr/bin/env bash
# Enforces DESIGN.md's one direction of imports on what the code really
# imports, not on what go.mod says: for each module it lists every package
# its packages and their tests depend on (go list -deps -test, inside the
# workspace) and checks
#   - the sibling modules reached are among those DESIGN.md's module map
#     allows (the allowed sets below are transitive: deploy reaches raft-core
#     through mgmt),
#   - a library (any module but the apps, bench, examples, the CLI, the
#     tools and the test modules) reaches no fx,
#   - every module has a rule: a new one fails until it is given one here,
#   - raft-core's own packages (not its tests) reach none of quic-go, pebble,
#     badger, prometheus, OpenTelemetry or fx,
#   - each go.mod requires no sibling outside its allowed set.
# Usage: check-imports.sh MODULE... (directories relative to the repository
# root, as go.work lists them). Exits 1 naming every violation.
set -euo pipefail
cd "$(dirname "$0")/.."
root=github.com/jangada-io/jangada

allowed() {
	case "$1" in
	raft-core | codec) echo "" ;;
	transport-mem | observe) echo "raft-core" ;;
	transport-quic | store-snapfile | mgmt) echo "raft-core codec" ;;
	store-pebble | store-badger) echo "raft-core codec store-snapfile" ;;
	store-wal) echo "raft-core" ;;
	discovery | backup) echo "raft-core codec mgmt" ;;
	deploy) echo "raft-core codec mgmt discovery" ;;
	deploy/kube) echo "raft-core codec mgmt discovery deploy" ;; # deploy's Kubernetes API on client-go
	apps/* | bench | examples | mgmt/cmd/jangadactl | tools/*) echo "*" ;; # may use everything
	mgmt/integration | deploy/integration) echo "*" ;; # test modules: nothing imports them
	*) echo "?" ;; # a module with no rule yet: named as a violation
	esac
}

# test_only names siblings a module's tests may use beyond allowed: an
# in-process network to run nodes on.
test_only() {
	case "$1" in
	discovery | backup | deploy) echo "transport-mem" ;;
	*) echo "" ;;
	esac
}

heavy='^(github\.com/quic-go/|github\.com/cockroachdb/pebble|github\.com/dgraph-io/badger|github\.com/prometheus/|go\.opentelemetry\.io/|go\.uber\.org/fx)'

if [ $# -eq 0 ]; then
	echo "check-imports: no modules given (is go.work readable?)" >&2
	exit 2
fi

# Every module directory, longest first, to map an import path to its module.
mods=$(go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p' | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
if [ -z "$mods" ]; then
	echo "check-imports: go.work lists no modules" >&2
	exit 2
fi

module_of() { # import path below $root -> module directory
	local rel=${1#"$root/"} m
	for m in $mods; do
		if [ "$rel" = "$m" ] || [[ "$rel" == "$m/"* ]]; then
			echo "$m"
			return
		fi
	done
	echo "?$rel"
}

fail=0
violation() {
	echo "$1"
	fail=1
}

for m in "$@"; do
	ok=$(allowed "$m")
	if [ "$ok" = "?" ]; then
		violation "$m has no import rule: give it one in scripts/check-imports.sh (DESIGN.md module map)"
		continue
	fi
	if ! out=$(cd "$m" && go list -deps -test -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./... 2>&1); then
		violation "$m: go list failed: $out"
		continue
	fi
	# "p [q.test]" is p compiled for q's tests: the same package p.
	deps=$(awk '{ print $1 }' <<<"$out" | grep -vE '(\.test|_test)$' | sort -u)
	if [ "$ok" != "*" ]; then
		tests=$(test_only "$m")
		for mod in $(grep "^$root/" <<<"$deps" | while read -r p; do module_of "$p"; done | sort -u); do
			[ "$mod" = "$m" ] && continue
			[[ " $ok $tests " == *" $mod "* ]] || violation "$m must not depend on $mod (DESIGN.md module map)"
		done
		if [ -n "$tests" ]; then
			own=$(cd "$m" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./...)
			for mod in $(grep "^$root/" <<<"$own" | while read -r p; do module_of "$p"; done | sort -u); do
				[[ " $tests " == *" $mod "* ]] && violation "$m must not depend on $mod outside its tests (DESIGN.md module map)"
			done
		fi
		if grep -q '^go\.uber\.org/fx' <<<"$deps"; then
			violation "$m is a library and must not import go.uber.org/fx"
		fi
		for req in $(awk '/^require \(/ { r = 1; next } r && /^\)/ { r = 0 } r { print $1 } /^require [^(]/ { print $2 }' "$m/go.mod" | sed -n "s#^$root/##p" | sort -u); do
			[[ " $ok $tests " == *" $req "* ]] || violation "$m/go.mod must not require $req (DESIGN.md module map)"
		done
	fi
	if [ "$m" = raft-core ]; then
		own=$(cd "$m" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./...)
		for p in $(grep -E "$heavy" <<<"$own" | sort -u); do
			violation "raft-core must stay lean: its packages reach $p"
		done
	fi
done
exit $fail
