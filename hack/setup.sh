#!/usr/bin/env bash
# Installs what the tests need on a fresh machine: Debian packages (when root),
# a running Docker engine, and the API-tier binaries in their cache. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  while read -r pkg; do
    case "$pkg" in ''|'#'*) continue ;; esac
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < hack/debian-packages.txt
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Daemons from these packages are started by the tests themselves, never at boot.
  for svc in bird bird6 frr gobgpd; do
    if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
else
  log "not root or no apt-get: skipping Debian packages (lab and Docker tiers will skip)"
fi

# Go tools, pinned, into GOBIN (default ~/go/bin).
gobin="$(go env GOBIN)"; gobin="${gobin:-$(go env GOPATH)/bin}"
if ! "$gobin/actionlint" -version 2>/dev/null | grep -q '^v1.7.12$'; then
  log "installing actionlint v1.7.12"
  GOFLAGS=-mod=mod go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
fi
if ! [ -x "$gobin/ginkgo" ]; then
  log "installing the ginkgo CLI (version from go.mod)"
  go install github.com/onsi/ginkgo/v2/ginkgo
fi

if [ -x hack/docker-up.sh ]; then
  if hack/docker-up.sh; then
    # Privileged containers (kind nodes) need the runtime wrapper on this kind of VM.
    [ -x hack/docker-runtime.sh ] && { hack/docker-runtime.sh || log "runtime wrapper not installed: kind tests may fail to start nodes"; }
  else
    log "no Docker engine could be started: the Docker tier will skip"
  fi
fi

if [ -x hack/apitier-build.sh ] && [ "${HYBRIDCNI_SKIP_APITIER:-}" != 1 ]; then
  hack/apitier-build.sh
fi
