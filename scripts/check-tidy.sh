#!/usr/bin/env bash
# Fails when `go mod tidy` (outside the workspace, as a user of one module
# would run it) fails in a module or would change its go.mod or go.sum.
# Leaves every file as it found it. Usage: check-tidy.sh MODULE...
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	echo "check-tidy: no modules given (is go.work readable?)" >&2
	exit 2
fi
keep=$(mktemp -d)
trap 'rm -rf "$keep"' EXIT
fail=0
for m in "$@"; do
	cp "$m/go.mod" "$keep/go.mod"
	had_sum=0
	if [ -f "$m/go.sum" ]; then cp "$m/go.sum" "$keep/go.sum"; had_sum=1; fi
	if ! out=$(cd "$m" && GOWORK=off go mod tidy 2>&1); then
		echo "$m: go mod tidy failed:"
		echo "$out" | sed 's/^/    /'
		fail=1
	elif ! cmp -s "$m/go.mod" "$keep/go.mod"; then
		echo "$m: go.mod is not tidy (run: cd $m && GOWORK=off go mod tidy)"
		fail=1
	elif [ $had_sum = 1 ] && ! cmp -s "$m/go.sum" "$keep/go.sum"; then
		echo "$m: go.sum is not tidy (run: cd $m && GOWORK=off go mod tidy)"
		fail=1
	elif [ $had_sum = 0 ] && [ -s "$m/go.sum" ]; then
		echo "$m: go.sum is missing (run: cd $m && GOWORK=off go mod tidy)"
		fail=1
	fi
	cp "$keep/go.mod" "$m/go.mod"
	if [ $had_sum = 1 ]; then cp "$keep/go.sum" "$m/go.sum"; else rm -f "$m/go.sum"; fi
done
exit $fail
