# hybridcni: CNI qualification on EKS hybrid nodes.
GO        ?= go
BIN       ?= bin/hybridcni
PKGS      ?= ./...
TEST_FLAGS ?= -count=1 -timeout 40m
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/hybridcni/hybridcni/framework/version.Version=$(VERSION)

.PHONY: all build test unit lint setup bench e2e images apitier clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hybridcni

## setup: Debian packages (root), Docker engine, API-tier binaries in their cache.
setup:
	hack/setup.sh

## test: every tier this machine can run (unit, lab, API, Docker), after set-up and lint.
test: setup lint
	$(GO) test $(TEST_FLAGS) $(PKGS)

## unit: only the tests that need nothing but Go.
unit:
	HYBRIDCNI_UNIT_ONLY=1 $(GO) test -count=1 -short $(PKGS)

GOBIN_DIR := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)

lint:
	$(GO) vet $(PKGS)
	@if [ -x $(GOBIN_DIR)/actionlint ]; then $(GOBIN_DIR)/actionlint .github/workflows/*.yml; \
	  else echo "lint: actionlint not installed (make setup installs it); workflows not checked"; fi
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi

## bench: speed and memory figures (no pass/fail thresholds).
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m $(PKGS)

clean:
	rm -rf bin results
