#!/usr/bin/env bash
# Starts dockerd when no Docker engine answers; does nothing when one does.
# Waits at most HYBRIDCNI_DOCKERD_WAIT seconds (default 30) for it to answer.
set -euo pipefail

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  exit 0
fi
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  echo "docker-up: dockerd or the docker CLI is missing: apt-get install docker.io" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "docker-up: no engine answers and starting dockerd needs root" >&2
  exit 1
fi
log="${HYBRIDCNI_DOCKERD_LOG:-/var/log/hybridcni-dockerd.log}"
echo "docker-up: starting dockerd (log: $log)"
# setsid: dockerd outlives this script and the caller's process group.
setsid dockerd >>"$log" 2>&1 < /dev/null &
wait_s="${HYBRIDCNI_DOCKERD_WAIT:-30}"
for _ in $(seq 1 $((wait_s * 5))); do
  if answers; then
    echo "docker-up: engine $(docker version --format '{{.Server.Version}}') answers"
    exit 0
  fi
  sleep 0.2
done
echo "docker-up: dockerd did not answer within ${wait_s}s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
