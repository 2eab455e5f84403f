# hybridcni: CNI qualification on EKS hybrid nodes.
GO         ?= go
BIN        ?= bin/hybridcni
PKGS       ?= ./...
# cmd/hybridcni runs the offline kind suites and fault matrices one after another (kind lock):
# about 40 min with kube-router's images, about 80 with Cilium's too; the bound is a hang guard.
TEST_FLAGS ?= -count=1 -timeout 120m
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/hybridcni/hybridcni/framework/buildinfo.Version=$(VERSION)
GOBIN_DIR  := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)

# The default qualification run of `make e2e` (override: make e2e E2E_FLAGS='-f run.yaml').
E2E_FLAGS  ?= --cni cilium --version 1.16.18 --upgrade-to 1.16.19 --bgp --masquerade=false --results results
# `make matrix`: one entry or all of a matrix file.
MATRIX     ?= fixtures/matrix/nightly.yaml
ONLY       ?=
PARALLEL   ?= 1
RESULTS    ?= results

.PHONY: all help build test test-kind-full unit lint setup setup-e2e bench e2e e2e-offline matrix images apitier node-image node-image-check clean cilium-images e2e-offline-matrix fault-matrix

all: build

## help: the targets and what each does (from their ## comments).
help:
	@awk '/^## [a-z0-9-]+:/ { sub(/^## /, ""); n = index($$0, ":"); printf "  %-20s%s\n", substr($$0, 1, n - 1), substr($$0, n + 1); next } \
	     /^## / { sub(/^## /, ""); printf "  %-20s %s\n", "", $$0 }' $(firstword $(MAKEFILE_LIST))

## build: a static hybridcni (CGO off), so it can package itself into the router and echo images.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hybridcni

## setup: Debian packages (root), Go tools, a Docker engine, API-tier binaries in their cache.
setup:
	hack/setup.sh

# The kind runs need no API tier.
setup-e2e:
	HYBRIDCNI_SKIP_APITIER=1 hack/setup.sh

# `make test` ends with each tier's ran/skipped line and "N passed, N failed, N skipped";
# HYBRIDCNI_REQUIRE_TIERS=kind,api (or all) fails it when those tiers skipped (for CI).
## test: every tier this machine can run (unit, lab, API, Docker), after set-up and lint.
test: setup lint
	$(GO) build -o bin/testsummary ./hack/testsummary
	GO=$(GO) bin/testsummary -- $(TEST_FLAGS) $(PKGS)

## test-kind-full: make test plus the long kind-tier runs it skips (the existing-cluster runs):
## about 45 min more on 2 cores.
test-kind-full:
	HYBRIDCNI_KIND_FULL=1 $(MAKE) test TEST_FLAGS='-count=1 -timeout 240m'

## unit: only the tests that need nothing but Go (lab, Docker and API tiers skip).
unit:
	HYBRIDCNI_UNIT_ONLY=1 $(GO) test -count=1 -short $(PKGS)

lint:
	$(GO) vet $(PKGS)
	@if [ -x $(GOBIN_DIR)/actionlint ]; then $(GOBIN_DIR)/actionlint .github/workflows/*.yml; \
	  else echo "lint: actionlint not installed (make setup installs it); workflows not checked"; fi
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt wants to change:"; echo "$$out"; exit 1; fi

## bench: speed and memory figures (no pass/fail thresholds).
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m $(PKGS)

## apitier: build kube-apiserver, etcd, controller-manager, scheduler and kwok into the cache.
apitier:
	hack/apitier-build.sh

## images: the router and echo images, built here with no registry.
images: build
	hack/docker-up.sh
	$(BIN) images build

## e2e: the default qualification run on kind (needs Docker and the node and CNI images, or a registry).
e2e: setup-e2e images
	$(BIN) run $(E2E_FLAGS)
	$(BIN) report results --markdown results/matrix.md --html results/matrix.html

## matrix: run a matrix file (MATRIX, ONLY=entry,..., PARALLEL=N) and merge its report.
matrix: setup-e2e images
	$(BIN) matrix -f $(MATRIX) $(if $(ONLY),--only $(ONLY)) --parallel $(PARALLEL) --results $(RESULTS)

## node-image: the offline kind node image and the kube-router and Cilium images, built with
## no registry (root and Docker; cached under ~/.cache/hybridcni; cold on 2 cores: the node image
## about 19 min, a Cilium version 10-14 min).
node-image:
	hack/docker-up.sh
	hack/docker-runtime.sh
	hack/node-image.sh
	hack/kube-router-image.sh
	hack/cilium-image.sh
	CILIUM_VERSION=1.17.0 hack/cilium-image.sh

node-image-check:
	$(GO) test -count=1 -v -run 'TestKindClusterOnOfflineNodeImage|TestKubeRouter' ./framework/nodeimage ./framework/cni/kuberouter
	$(GO) test -count=1 -v -run 'TestOfflineCilium' ./cmd/hybridcni

OFFLINE_NODE_IMAGE ?= hybridcni/node:v1.37.2
OFFLINE_FLAGS ?= --node-image $(OFFLINE_NODE_IMAGE) --kubernetes-version 1.37.2 --bgp --masquerade=false
# Cilium's charts, packaged by hack/cilium-image.sh from the modules it builds.
OFFLINE_CILIUM_CHARTS ?= $(or $(HYBRIDCNI_CACHE),$(HOME)/.cache/hybridcni)/cilium/charts

## e2e-offline: the full suites on kind with no registry: the offline node image, kube-router,
## and real Cilium 1.16.19 upgraded to 1.17.0 (images and charts built here); both run, then
## one matrix.
e2e-offline: setup-e2e node-image images
	@rc=0; \
	$(BIN) run --cni kube-router $(OFFLINE_FLAGS) --results results-offline/kube-router || rc=1; \
	$(BIN) run --cni cilium --version 1.16.19 --upgrade-to 1.17.0 --chart-repo $(OFFLINE_CILIUM_CHARTS) \
	  --values fixtures/values/cilium-offline.yaml $(OFFLINE_FLAGS) --results results-offline/cilium || rc=1; \
	$(BIN) report results-offline/kube-router results-offline/cilium \
	  --markdown results-offline/matrix.md --html results-offline/matrix.html || rc=1; \
	exit $$rc

# A cloud node too: agents must not land there (agent-affinity-removed).
FAULT_FLAGS ?= --faults --cloud-nodes 1

## fault-matrix: the fault phase offline (run --faults) for kube-router and Cilium 1.16.19 on kind:
## each fault of `hybridcni faults` in turn, its checks must fail naming what broke, then pass
## after heal; writes results-faults/faults.md (fault -> check -> observed failure) and JUnit.
fault-matrix: setup-e2e node-image images
	@mkdir -p results-faults; rc=0; \
	$(BIN) run --cni kube-router $(OFFLINE_FLAGS) $(FAULT_FLAGS) --results results-faults/kube-router || rc=1; \
	$(BIN) run --cni cilium --version 1.16.19 --chart-repo $(OFFLINE_CILIUM_CHARTS) \
	  --values fixtures/values/cilium-offline.yaml $(OFFLINE_FLAGS) $(FAULT_FLAGS) --results results-faults/cilium || rc=1; \
	{ sed -n '1,4p' results-faults/kube-router/faults.md 2>/dev/null || printf '# Fault matrix\n\n'; \
	  for c in kube-router cilium; do sed '1,4d' results-faults/$$c/faults.md 2>/dev/null; done; } > results-faults/faults.md; \
	echo "fault matrix: results-faults/faults.md"; \
	exit $$rc

# The Cilium versions hack/cilium-image.sh builds (framework/cni/cilium.OfflineVersions; a test
# keeps the two equal), and the lazy builds of the offline matrix.
OFFLINE_CILIUM_VERSIONS ?= 1.16.19 1.17.0 1.18.0 1.19.6 1.20.2
CILIUM_VERSIONS ?= 1.16.19 1.17.0
OFFLINE_MATRIX ?= fixtures/matrix/offline.yaml
OFFLINE_MATRIX_RESULTS ?= results-offline-matrix
# Clusters at once: 1 below 4 CPUs (on 2 cores the whole file took 74 min at 1 and 77 min at
# 2: the cores are the limit, not memory), else 2.
OFFLINE_MATRIX_PARALLEL ?= $(shell [ "$$(nproc 2>/dev/null || echo 1)" -ge 4 ] && echo 2 || echo 1)

## cilium-images: the offline Cilium agent and operator images and charts of CILIUM_VERSIONS
## only (e.g. make cilium-images CILIUM_VERSIONS="1.18.0 1.19.6"); each is cached by version,
## so a built one only checks (cold: 10-20 minutes a version on 2 cores).
cilium-images:
	hack/docker-up.sh
	hack/docker-runtime.sh
	@set -e; for v in $(CILIUM_VERSIONS); do CILIUM_VERSION=$$v hack/cilium-image.sh >/dev/null; done

## e2e-offline-matrix: fixtures/matrix/offline.yaml (five Cilium minors fresh, their masquerading
## defaults, the chain 1.16.19 -> 1.20.2, each on Kubernetes 1.37.2 and 1.33.13) on kind with no
## registry, building only the node images and the Cilium versions its entries (ONLY=entry,...)
## need; merged report in results-offline-matrix/matrix.md and .html (OFFLINE_MATRIX_RESULTS);
## OFFLINE_MATRIX_PARALLEL clusters at once (an upgrade chain always runs alone, so its meter
## measures Cilium, not the cluster beside it).
OFFLINE_MATRIX_NODE_IMAGE ?= hybridcni/node:v{kubernetes}
e2e-offline-matrix: setup-e2e images
	hack/docker-up.sh
	hack/docker-runtime.sh
	@k8s=$$($(BIN) matrix -f $(OFFLINE_MATRIX) $(if $(ONLY),--only $(ONLY)) --list -o json | \
	  grep -o '"kubernetes":"[^"]*"' | cut -d'"' -f4 | sort -u) || exit 1; \
	  for v in $$k8s; do echo "e2e-offline-matrix: node image for Kubernetes $$v"; \
	    KUBERNETES_VERSION=$$v hack/node-image.sh >/dev/null || exit 1; done
	@versions=$$($(BIN) matrix -f $(OFFLINE_MATRIX) $(if $(ONLY),--only $(ONLY)) --list -o json | \
	  $(GO) run ./hack/cilium/needs $(OFFLINE_CILIUM_VERSIONS)) || exit 1; \
	  echo "e2e-offline-matrix: Cilium $$versions"; \
	  $(MAKE) --no-print-directory cilium-images CILIUM_VERSIONS="$$versions"
	mkdir -p $(OFFLINE_MATRIX_RESULTS)
	sed 's#OFFLINE_CILIUM_CHARTS#$(OFFLINE_CILIUM_CHARTS)#' $(OFFLINE_MATRIX) >$(OFFLINE_MATRIX_RESULTS)/offline.yaml
	$(BIN) matrix -f $(OFFLINE_MATRIX_RESULTS)/offline.yaml $(if $(ONLY),--only $(ONLY)) \
	  --parallel $(OFFLINE_MATRIX_PARALLEL) --node-image '$(OFFLINE_MATRIX_NODE_IMAGE)' --results $(OFFLINE_MATRIX_RESULTS)

clean:
	rm -rf bin results
