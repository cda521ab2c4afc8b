# bottomless-dr: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
BIN_DIR ?= $(HOME)/.cache/bottomless-dr/bin
TEMPORAL_MODULE := github.com/temporalio/cli/cmd/temporal@v1.5.1
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
WORKFLOWCHECK_MODULE := go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
UNIT_PKGS = $$(go list ./... | grep -v /test/e2e)

.PHONY: demo test unit e2e bench tools build vet fmt

## demo: start Temporal (+UI), two MinIO regions and the worker; replicate a live workload
demo: tools
	go run ./test/stack/demo

## test: vet, unit tests (race detector) and end-to-end tests against real servers
test: tools vet unit e2e

vet: $(BIN_DIR)/workflowcheck
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	go vet ./...
	@# Workflow code must be deterministic: no map iteration, clocks, goroutines or I/O.
	@out="$$($(BIN_DIR)/workflowcheck ./workflows/... 2>&1)"; if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

unit:
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

## tools: build the temporal CLI and MinIO once into $(BIN_DIR) (several minutes the first time)
tools: $(BIN_DIR)/temporal $(BIN_DIR)/minio $(BIN_DIR)/workflowcheck

$(BIN_DIR)/temporal:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(TEMPORAL_MODULE)

$(BIN_DIR)/minio:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(MINIO_MODULE)

$(BIN_DIR)/workflowcheck:
	mkdir -p $(BIN_DIR) && cd /tmp && GOBIN=$(BIN_DIR) go install $(WORKFLOWCHECK_MODULE)

fmt:
	gofmt -w .
