#!/usr/bin/env bash
# Proves that `make check`'s guards can fail: in a scratch copy of the
# repository it injects, one at a time, the faults they exist to catch and
# expects the matching target to fail with the matching message:
#   - a library importing a sibling the module map forbids,
#   - a library importing fx (it compiles in the workspace: the apps bring fx),
#     a top-level one and a nested one (deploy/kube),
#   - a module the rules do not name,
#   - raft-core importing a heavy dependency,
#   - a go.mod that `go mod tidy` would change, and one where tidy fails,
#   - a module that does not compile (vet and test must not skip it),
#   - code staticcheck objects to,
#   - a raft-core API change incompatible with its latest release,
#   - a go.work that lists no modules.
# The working tree is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$scratch"
export GOFLAGS=

fail=0
# expect NAME TARGET PATTERN: make TARGET in the scratch copy must fail and
# print PATTERN; then the copy is reset to the repository's files.
expect() {
	local name=$1 target=$2 pattern=$3 out
	if out=$(make -C "$scratch" --no-print-directory $target 2>&1); then
		echo "FAIL $name: make $target passed with the fault injected"
		fail=1
	elif ! grep -qE -- "$pattern" <<<"$out"; then
		echo "FAIL $name: make $target failed without saying /$pattern/:"
		echo "$out" | tail -5 | sed 's/^/    /'
		fail=1
	else
		echo "ok   $name: make $target fails: $(grep -E -m1 -- "$pattern" <<<"$out")"
	fi
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$scratch"
}
inject() { # inject FILE CONTENT: a new file in the scratch copy
	mkdir -p "$(dirname "$scratch/$1")"
	printf '%s\n' "$2" >"$scratch/$1"
}
cleanup_injected() { rm -f "$scratch/$1"; }

inject store-pebble/zz_forbidden.go 'package storepebble
import _ "github.com/jangada-io/jangada/transport-quic"'
expect "forbidden sibling" "imports-check MODULES=store-pebble" 'store-pebble must not depend on transport-quic'
cleanup_injected store-pebble/zz_forbidden.go

inject discovery/zz_mem.go 'package discovery
import _ "github.com/jangada-io/jangada/transport-mem"'
expect "test-only sibling in code" "imports-check MODULES=discovery" 'discovery must not depend on transport-mem outside its tests'
cleanup_injected discovery/zz_mem.go

inject observe/zz_fx.go 'package observe
import _ "go.uber.org/fx"'
expect "library imports fx" "imports-check MODULES=observe" 'observe is a library and must not import go.uber.org/fx'
cleanup_injected observe/zz_fx.go

inject deploy/kube/zz_forbidden.go 'package kube
import _ "github.com/jangada-io/jangada/transport-quic"'
expect "nested library, forbidden sibling" "imports-check MODULES=deploy/kube" 'deploy/kube must not depend on transport-quic'
cleanup_injected deploy/kube/zz_forbidden.go

inject deploy/kube/zz_fx.go 'package kube
import _ "go.uber.org/fx"'
expect "nested library imports fx" "imports-check MODULES=deploy/kube" 'deploy/kube is a library and must not import go.uber.org/fx'
cleanup_injected deploy/kube/zz_fx.go

inject zz-new/go.mod 'module github.com/jangada-io/jangada/zz-new

go 1.26.0'
inject zz-new/new.go 'package zznew
import _ "go.uber.org/fx"'
(cd "$scratch" && go work use ./zz-new)
expect "module without a rule" "imports-check MODULES=zz-new" 'zz-new has no import rule'
rm -rf "${scratch:?}/zz-new"

inject raft-core/zz_heavy.go 'package raftcore
import _ "github.com/quic-go/quic-go"'
expect "heavy raft-core" "imports-check MODULES=raft-core" 'raft-core must stay lean'
cleanup_injected raft-core/zz_heavy.go

printf 'require github.com/google/uuid v1.6.0\n' >>"$scratch/codec/go.mod"
expect "untidy go.mod" "tidy-check MODULES=codec" 'codec: go.mod is not tidy'

inject codec/zz_missing.go 'package codec
import _ "example.invalid/no/such/module"'
expect "tidy fails" "tidy-check MODULES=codec" 'codec: go mod tidy failed'
cleanup_injected codec/zz_missing.go

inject codec/zz_broken.go 'package codec
func broken( {'
expect "broken module (vet)" "vet MODULES=codec" 'zz_broken.go'
expect_broken_test() {
	inject codec/zz_broken.go 'package codec
func broken( {'
	expect "broken module (test)" "test MODULES=codec GOTEST_FLAGS=-count=1" 'zz_broken.go'
	cleanup_injected codec/zz_broken.go
}
cleanup_injected codec/zz_broken.go
expect_broken_test

inject codec/zz_lint.go 'package codec
func neverCalled() {}'
expect "staticcheck finding" "lint MODULES=codec" 'zz_lint.go:2:6: func neverCalled is unused'
cleanup_injected codec/zz_lint.go

sed -i 's/^func (s \*Stepper\[C, R\]) Leader() uint64/func (s *Stepper[C, R]) LeaderNow() uint64/' "$scratch/raft-core/stepper.go"
if ! grep -q LeaderNow "$scratch/raft-core/stepper.go"; then
	echo "FAIL api change: could not rename Stepper.Leader in the scratch copy (update this test)"
	fail=1
fi
expect "incompatible raft-core API" "api-check" 'Leader: removed'

printf 'go 1.26.0\n' >"$scratch/go.work"
expect "empty go.work" "vet" 'go.work lists no modules'

exit $fail
