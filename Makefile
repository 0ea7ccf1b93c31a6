# jangada — every module is listed in go.work; targets loop over them.
SHELL := /bin/bash
MODULES := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
GOTEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: all run run-bank demo test check fmt vet tidy-check imports-check bench bench-quick bench-micro soak download

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
		if [ -n "$$(cd $$m && go list ./... 2>/dev/null)" ]; then \
			echo "==> $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); \
		fi; \
	done

## check: formatting, vet, go.mod tidiness and the import direction rule
check: fmt vet tidy-check imports-check

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do \
		if [ -n "$$(cd $$m && go list ./... 2>/dev/null)" ]; then (cd $$m && go vet ./...); fi; \
	done

tidy-check:
	@set -e; for m in $(MODULES); do \
		(cd $$m && cp go.mod /tmp/jangada-go.mod.bak && { [ -f go.sum ] && cp go.sum /tmp/jangada-go.sum.bak || rm -f /tmp/jangada-go.sum.bak; } ; \
		 GOWORK=off go mod tidy >/dev/null 2>&1; \
		 if ! cmp -s go.mod /tmp/jangada-go.mod.bak; then echo "$$m: go.mod not tidy"; cp /tmp/jangada-go.mod.bak go.mod; exit 1; fi; \
		 if [ -f /tmp/jangada-go.sum.bak ]; then cp /tmp/jangada-go.sum.bak go.sum; fi); \
	done

imports-check:
	@./scripts/check-imports.sh $(MODULES)

## download: fetch every module's dependencies (CI's first step)
download:
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off go mod download); done

## bench: the comparative harness (jangada backends, hashicorp/raft, bare etcd-raft), every scenario including
## the 512 MiB snapshot catch-up (about 20 minutes); writes bench/RESULTS.md and bench/results/
bench:
	go run ./bench/cmd/bench -large-snapshot -results-md bench/RESULTS.md

## bench-quick: headline scenarios only (about two minutes); last line is the headline ratio
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
