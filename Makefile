# bottomless-dr: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
BIN_DIR ?= $(HOME)/.cache/bottomless-dr/bin
TEMPORAL_MODULE := github.com/temporalio/cli/cmd/temporal@v1.5.1
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
GOAWS_MODULE := github.com/Admiral-Piett/goaws/app/cmd@v0.4.5
WORKFLOWCHECK_MODULE := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
UNIT_PKGS = $$(go list ./... | grep -v /test/e2e)

.PHONY: demo test unit e2e bench tools build vet fmt mariadb-client

## demo: start Temporal (+UI), MinIO and a stand-in database per region and the worker; replicate
## a database that SQL writers fill and print the commands to try (DEMO_FLAGS='-for 20s': smoke test)
DEMO_FLAGS ?=
demo: tools
	go run ./test/stack/demo $(DEMO_FLAGS)

## test: vet, unit tests (race detector) and end-to-end tests against real servers
test: tools vet unit e2e

vet: $(BIN_DIR)/workflowcheck
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	go vet ./...
	@# Workflow code must be deterministic: no map iteration, clocks, goroutines or I/O.
	@out="$$($(BIN_DIR)/workflowcheck ./workflows/... 2>&1)"; if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

unit: mariadb-client
	go test -race -count=1 -timeout 15m $(UNIT_PKGS)

e2e:
	go test -count=1 -timeout 30m ./test/e2e/

## bench: initial sync and lag against rclone and a raw PUT ceiling; the stand-in's commit and attach rates
bench: tools
	go run ./bench
	@echo "stand-in database: single-row INSERT commits (one log PUT each), ATTACH of 10,000 log chunks"
	go test -run '^$$' -bench . -benchtime 1x ./test/standin/

## build: the worker and the bdr CLI into ./bin
build:
	go build -o bin/bdr-worker ./worker
	go build -o bin/bdr ./starter

## tools: build the temporal CLI, MinIO and goaws (an SQS server) once into $(BIN_DIR) (several
## minutes the first time) and install the mariadb client if it is missing
tools: $(BIN_DIR)/temporal $(BIN_DIR)/minio $(BIN_DIR)/goaws $(BIN_DIR)/workflowcheck mariadb-client

## mariadb-client: the stand-in's tests also drive it through the mariadb command-line client;
## installed with apt-get (as root, else with sudo) when `mariadb` is not on PATH
mariadb-client:
	@command -v mariadb >/dev/null 2>&1 && exit 0; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: the mariadb command-line client is required by test/standin and apt-get is not available: install mariadb-client (or MariaDB's client) yourself" >&2; exit 1; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "make: the mariadb command-line client is required by test/standin: not root and no sudo, run 'apt-get install mariadb-client' as root" >&2; exit 1; fi; \
	echo "make: installing mariadb-client with $${sudo:+sudo }apt-get (the stand-in's tests use the mariadb client)"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-client >/dev/null && \
	command -v mariadb >/dev/null 2>&1 || { echo "make: installing mariadb-client failed; run 'apt-get install mariadb-client' as root" >&2; exit 1; }

$(BIN_DIR)/temporal:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(TEMPORAL_MODULE)

$(BIN_DIR)/minio:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(MINIO_MODULE)

# goaws's command is in app/cmd: go install names it cmd, so it is built apart and renamed.
$(BIN_DIR)/goaws:
	mkdir -p $(BIN_DIR) && tmp=$$(mktemp -d) && cd /tmp && GOBIN=$$tmp go install $(GOAWS_MODULE) && \
		mv $$tmp/cmd $@ && rmdir $$tmp

$(BIN_DIR)/workflowcheck:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(WORKFLOWCHECK_MODULE)

fmt:
	gofmt -w .
