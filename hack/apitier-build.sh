#!/usr/bin/env bash
# Builds the API test tier's binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from the Go module proxy into
# a cache folder outside the checkout, and prints that bin folder on stdout.
#
#   ${HYBRIDCNI_CACHE:-$HOME/.cache/hybridcni}/apitier/<k8s>-<etcd>-<kwok>/bin
#
# A complete cache is reused (exits at once). A build goes to a temporary
# folder that is renamed into place only when every binary is there, so an
# interrupted build is never taken as complete. The versions come from the
# go.mod files under tools/apitier/, the single place to change them.
#
# Environment:
#   HYBRIDCNI_CACHE       cache root (default $HOME/.cache/hybridcni)
#   APITIER_BUILD_P       parallel compile jobs (default: number of CPUs, max 2:
#                         one kube link peaks at ~2.4 GiB)
#   APITIER_FORCE=1       rebuild even if the cache is complete
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$repo/tools/apitier"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf 'apitier-build: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# modversion FILE MODULE prints the version MODULE is required at in FILE.
modversion() {
	local v
	v=$(awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) && $0 !~ /=>/ {print $NF; exit}' "$1")
	[[ -n "$v" ]] || die "no 'require $2' in $1; fix the tools module"
	printf '%s' "$v"
}

k8s_version=$(modversion "$tools/k8s/go.mod" k8s.io/kubernetes)
etcd_version=$(modversion "$tools/etcd/go.mod" go.etcd.io/etcd/server/v3)
kwok_version=$(modversion "$tools/kwok/go.mod" sigs.k8s.io/kwok)

cache_root=${HYBRIDCNI_CACHE:-${HOME:?HOME or HYBRIDCNI_CACHE must be set}/.cache/hybridcni}
key="$k8s_version-$etcd_version-$kwok_version"
dest="$cache_root/apitier/$key"

complete() {
	local b
	[[ -f "$1/bin/.complete" ]] || return 1
	for b in "${binaries[@]}"; do [[ -x "$1/bin/$b" ]] || return 1; done
}

if [[ "${APITIER_FORCE:-0}" != 1 ]] && complete "$dest"; then
	log "cache complete: $dest/bin"
	printf '%s\n' "$dest/bin"
	exit 0
fi

mkdir -p "$cache_root/apitier"
# One build at a time per cache root; a second caller waits and then reuses.
exec 9>"$cache_root/apitier/.lock"
if ! flock -n 9; then
	log "another build holds $cache_root/apitier/.lock; waiting"
	flock 9
fi
if [[ "${APITIER_FORCE:-0}" != 1 ]] && complete "$dest"; then
	log "cache completed by another build: $dest/bin"
	printf '%s\n' "$dest/bin"
	exit 0
fi

# Leftovers of interrupted builds (we hold the lock, so none is running).
rm -rf "$cache_root/apitier/.$key.tmp."*
tmp=$(mktemp -d "$cache_root/apitier/.$key.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Each build runs in the background in its own process group, so a signal
# is handled at once: end the go command with its compilers and
# linker, wait for them, then clean up.
child=""
on_signal() {
	log "interrupted; removing the partial build"
	if [[ -n "$child" ]]; then
		kill -TERM -- "-$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	exit 130
}
trap on_signal INT TERM
run() {
	setsid "$@" &
	child=$!
	wait "$child"
	child=""
}
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

ncpu=$(nproc 2>/dev/null || echo 2)
p=${APITIER_BUILD_P:-$((ncpu < 2 ? ncpu : 2))}
export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
# -s -w: no symbol table or DWARF; smaller binaries and a lighter link.
common=(-p "$p" -ldflags)

# Kubernetes reads its version from ldflags only; without them the server
# says v0.0.0-master and Helm kubeVersion constraints fail.
minor=${k8s_version#v*.}
minor=${minor%%.*}
major=${k8s_version#v}
major=${major%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kver=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kver+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	kver+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

start=$(date +%s)
log "building $key into $dest (-p $p); a cold build takes 10-17 min on 2 cores, a relink ~1-2 min"

log "etcd $etcd_version"
run env -C "$tools/etcd" go build "${common[@]}" "-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3

log "kwok $kwok_version"
run env -C "$tools/kwok" go build "${common[@]}" "-s -w" -o "$tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok

log "kube-apiserver, kube-controller-manager, kube-scheduler $k8s_version"
run env -C "$tools/k8s" go build "${common[@]}" "-s -w$kver" -o "$tmp/bin/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler

for b in "${binaries[@]}"; do [[ -x "$tmp/bin/$b" ]] || die "build produced no $b"; done
got=$("$tmp/bin/kube-apiserver" --version)
[[ "$got" == "Kubernetes $k8s_version" ]] || die "kube-apiserver reports '$got', want 'Kubernetes $k8s_version' (version ldflags)"

printf 'k8s=%s\netcd=%s\nkwok=%s\nbuilt=%s\n' "$k8s_version" "$etcd_version" "$kwok_version" "$build_date" >"$tmp/bin/.complete"
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $(($(date +%s) - start))s: $dest/bin ($(du -sh "$dest" | cut -f1))"
printf '%s\n' "$dest/bin"
