# jangada — every module is listed in go.work; targets loop over them.
SHELL := /bin/bash
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
ifeq ($(strip $(MODULES)),)
$(error go.work lists no modules: run make in the repository root, with a readable go.work)
endif
GOTEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: all run run-bank demo test fuzz release check fmt vet lint tidy-check imports-check api-check check-selftest bench bench-quick bench-micro soak download

all: check test

## run: start a local 3-node kvstore cluster (QUIC, pebble, data in ./data); Ctrl-C stops it
run:
	./apps/kvstore/scripts/run-cluster.sh

## run-bank: start a local 3-node bank cluster (QUIC, pebble, HTTP on 127.0.0.1:8101-8103, data in ./data-bank)
run-bank:
	./apps/bank/scripts/run-cluster.sh

## demo: an in-process 3-node cluster that writes, reads and fails over, then exits
demo:
	go run ./examples/cluster

## test: every module's tests with the race detector
test:
	@set -e; for m in $(MODULES); do \
		echo "==> $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); \
	done

## fuzz: every fuzz target in every module for FUZZTIME each (default 30s); their seed corpora run in make test
FUZZTIME ?= 30s
fuzz:
	@set -e; for m in $(MODULES); do \
		for p in $$(cd $$m && go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
			for f in $$(cd $$m && go test -list '^Fuzz' $$p | grep '^Fuzz' || true); do \
				echo "==> $$p $$f"; (cd $$m && go test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$p); \
			done; \
		done; \
	done

## release: VERSION=vX.Y.Z — every module requires its siblings at VERSION, make check passes, raft-core's
## API snapshot for api-check is written (raft-core/api/VERSION.apidiff), one commit, and a tag per module (raft-core/VERSION, store-pebble/VERSION, …); push the commit and the tags yourself
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=vX.Y.Z"; exit 2; }
	@git diff --quiet && git diff --cached --quiet || { echo "release: commit or stash your changes first"; exit 1; }
	@for t in $$(go run ./tools/release tags -version $(VERSION)); do \
		if git rev-parse -q --verify "refs/tags/$$t" >/dev/null; then echo "release: tag $$t exists"; exit 1; fi; \
	done
	go run ./tools/release bump -version $(VERSION)
	go run ./tools/release check -version $(VERSION)
	$(MAKE) check
	$(MAKE) $(APIDIFF) && cd raft-core && $(APIDIFF) -m -w api/$(VERSION).apidiff github.com/jangada-io/jangada/raft-core
	git add raft-core/api && git commit -qam "Release $(VERSION)" --allow-empty
	@for t in $$(go run ./tools/release tags -version $(VERSION)); do git tag "$$t"; echo "tagged $$t"; done

## check: formatting, vet, staticcheck, go.mod tidiness, the import direction rule, and proof that
## these guards fail on the faults they exist to catch (scripts/selftest-checks.sh)
check: fmt vet lint tidy-check imports-check api-check check-selftest

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done

STATICCHECK_VERSION := v0.8.2

## lint: staticcheck (default checks) on every module
lint:
	@GOWORK=off GOFLAGS= GOBIN=$(CURDIR)/bin go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@set -e; for m in $(MODULES); do (cd $$m && $(CURDIR)/bin/staticcheck ./...); done

tidy-check:
	@./scripts/check-tidy.sh $(MODULES)

imports-check:
	@./scripts/check-imports.sh $(MODULES)

APIDIFF_VERSION := v0.0.0-20261113113407-e3970619a1a4
APIDIFF := $(CURDIR)/bin/apidiff
$(APIDIFF):
	@GOWORK=off GOFLAGS= GOBIN=$(CURDIR)/bin go install golang.org/x/exp/cmd/apidiff@$(APIDIFF_VERSION)

## api-check: raft-core's API keeps everything of its latest release (raft-core/api/VERSION.apidiff);
## an incompatible change needs a new major version, or a deliberate new snapshot at a v0 release
api-check: $(APIDIFF)
	@snap=$$(ls raft-core/api/*.apidiff | sort -V | tail -1); \
	out=$$(cd raft-core && $(APIDIFF) -m -incompatible ../$$snap github.com/jangada-io/jangada/raft-core 2>&1 | grep -v '^Ignoring internal package'); \
	if [ -n "$$out" ]; then echo "raft-core: incompatible with $$snap:"; echo "$$out" | sort -u; exit 1; fi

check-selftest:
	@./scripts/selftest-checks.sh

## download: fetch every module's dependencies (CI's first step)
download:
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off go mod download); done

## bench: the comparative harness (jangada backends, hashicorp/raft, bare etcd-raft, transport ceilings), every scenario including
## the 512 MiB snapshot catch-up (about 20 minutes, each cluster in a process of its own); writes bench/RESULTS.md and bench/results/
bench:
	go run ./bench/cmd/bench -large-snapshot -results-md bench/RESULTS.md

## bench-quick: headline scenarios only (about four minutes); last line is the headline ratio
bench-quick:
	go run ./bench/cmd/bench -quick

## bench-micro: every module's Go benchmarks
bench-micro:
	@set -e; for m in $(MODULES); do \
		if [ -n "$$(cd $$m && go list ./... 2>/dev/null)" ]; then (cd $$m && go test -run '^$$' -bench . -benchmem ./...); fi; \
	done

## soak: thousands of simulated seeds (5,000 at 3 nodes, 2,000 at 5, every nemesis) from a fresh random
## base each run, printed first and last (SOAK_BASE=<n> replays the same seeds), then the full search
## for every injected bug (make test, with -race, starts it at the seed that catches each), then the
## bank test for BANK_SOAK (default 2m) per store
soak:
	@base=$${SOAK_BASE:-$$(( $$(od -An -N4 -tu4 /dev/urandom) % 1000000000 + 1 ))}; \
	echo "soak: SOAK_BASE=$$base (3 nodes: seeds $$base-$$((base+4999)); 5 nodes: seeds $$base-$$((base+1999)))"; \
	cd raft-core && go run ./sim/cmd/simulate -seeds $$base-$$((base+4999)) -nemesis all -duration 10s \
		&& go run ./sim/cmd/simulate -seeds $$base-$$((base+1999)) -nodes 5 -nemesis all -duration 10s \
		&& go test -count=1 -run 'TestInjectedBugIsCaught' ./sim \
		&& cd ../apps/bank && BANK_SOAK=$${BANK_SOAK:-2m} go test -count=1 -timeout 30m -run 'TestBank' ./e2e; \
	rc=$$?; echo "soak: SOAK_BASE=$$base exit=$$rc"; exit $$rc
