#!/usr/bin/env bash
# Installs cmd/runc-capfix as /usr/local/sbin/runc-capfix and makes it the
# Docker engine's default runtime, so privileged containers (kind nodes,
# `docker exec --privileged`) start on hosts that withhold capabilities.
#
# Idempotent and safe for running containers: the binary is replaced
# atomically only when it differs, and daemon.json is changed only when the
# wrapper is not yet the default. The engine then reloads its runtimes on
# SIGHUP (no restart, containers keep running). Only if the reload does not
# take and no container is running is dockerd restarted, once.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=/usr/local/sbin/runc-capfix
conf=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}

log() { printf 'docker-runtime: %s\n' "$*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
	log "not root: privileged containers may fail on this host (run as root to install the runtime wrapper)"
	exit 0
fi

tmp=$(mktemp "${bin}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
(cd "$repo" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags '-s -w' -o "$tmp" ./cmd/runc-capfix)
if cmp -s "$tmp" "$bin"; then
	rm -f "$tmp"
else
	chmod 0755 "$tmp"
	mv -f "$tmp" "$bin" # atomic: shims of running containers never see a partial file
	log "installed $bin"
fi
trap - EXIT

changed=$("$bin" configure-docker --config "$conf" --path "$bin")

docker_default() { docker info --format '{{.DefaultRuntime}}' 2>/dev/null || true; }

pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
	log "daemon.json $changed; no dockerd running, it will use runc-capfix when started"
	exit 0
fi
if [[ "$(docker_default)" == runc-capfix ]]; then
	[[ "$changed" == unchanged ]] || log "daemon.json rewritten; engine already uses runc-capfix"
	exit 0
fi

log "daemon.json $changed; reloading dockerd (SIGHUP, running containers are not touched)"
kill -HUP "$pid"
for _ in $(seq 50); do
	[[ "$(docker_default)" == runc-capfix ]] && { log "engine default runtime: runc-capfix"; exit 0; }
	sleep 0.1
done

if [[ -n "$(docker ps -q)" ]]; then
	log "ERROR: dockerd did not take the new default runtime on reload, and containers are running;"
	log "restart dockerd yourself when they are done (e.g. hack/docker-up.sh after stopping it)"
	exit 1
fi
log "reload did not take; restarting dockerd once (no container is running)"
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
"$repo/hack/docker-up.sh" >&2
for _ in $(seq 100); do
	[[ "$(docker_default)" == runc-capfix ]] && { log "dockerd restarted with runc-capfix"; exit 0; }
	sleep 0.1
done
log "ERROR: dockerd did not come back with runc-capfix as default runtime; see its log (hack/docker-up.sh)"
exit 1
