#!/usr/bin/env bash
# Builds the API test tier's binaries (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from the Go module proxy and
# prints the folder holding them:
#
#   ${HYBRIDCNI_CACHE:-$HOME/.cache/hybridcni}/apitier/<k8s>-<etcd>-<kwok>/bin
#
# Kubernetes and etcd come from the one binary cache the offline node image
# shares (hack/nodeimage/bincache.sh: node-image/bin/<name>-<version>/, built
# from tools/k8s/<version> and tools/etcd/<version>), so a machine that built
# either pays nothing for the other; the folder above holds links to them.
# The Kubernetes version is the newest tools/k8s/<version> (APITIER_K8S_VERSION
# picks another), etcd the one its kubeadm asks for (tools/k8s/<version>/etcd-version),
# kwok the one tools/apitier/kwok requires; framework/testenv names the same.
#
# A complete folder is reused (exits at once). A build goes to a temporary
# folder that is renamed into place only when every binary is there, so an
# interrupted build is never taken as complete.
#
# Environment:
#   HYBRIDCNI_CACHE       cache root (default $HOME/.cache/hybridcni)
#   APITIER_K8S_VERSION   Kubernetes version (default: the newest tools/k8s/<version>)
#   APITIER_BUILD_P       parallel compile jobs (default: number of CPUs, max 2:
#                         one kube link peaks at ~2.4 GiB)
#   APITIER_FORCE=1       assemble again even if the folder is complete
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf 'apitier-build: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=nodeimage/lib.sh
source "$repo/hack/nodeimage/lib.sh"
# shellcheck source=nodeimage/bincache.sh
source "$repo/hack/nodeimage/bincache.sh"

k8s_version=${APITIER_K8S_VERSION:-$(cd "$repo/tools/k8s" && ls -d v* | sort -V | tail -1)}
k8s_version=v${k8s_version#v}
etcd_version=$(k8s_etcd_version "$k8s_version")
kwok_version=$(modversion "$repo/tools/apitier/kwok/go.mod" sigs.k8s.io/kwok)

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
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start=$(date +%s)
log "assembling $key in $dest from the shared binary cache (-p $p); a cold build takes 10-17 min on 2 cores"

mapfile -t control_plane < <(k8s_set control-plane)
# kwok as an API tier built it before the cache was shared.
for old in "$cache_root"/apitier/*-"$kwok_version"/bin; do
	bincache_seed "kwok-$kwok_version" "$old" kwok
done
# The builds run in child shells (run: their own process group, so a signal
# reaches the go command, compilers and linker at once).
export -f log die gobuild bincache_build bincache_seed k8s_set k8s_ldflags k8s_module build_k8s build_etcd
export cache_root p repo
run bash -euo pipefail -c 'build_etcd "$1"' _ "$etcd_version"
run bash -euo pipefail -c 'bincache_build "kwok-$1" "$repo/tools/apitier/kwok" "-s -w" sigs.k8s.io/kwok/cmd/kwok' _ "$kwok_version"
run bash -euo pipefail -c 'build_k8s "$1" control-plane' _ "$k8s_version"
link() { ln "$1" "$2" 2>/dev/null || cp "$1" "$2"; }
link "$(etcd_path "$etcd_version")" "$tmp/bin/etcd"
link "$cache_root/node-image/bin/kwok-$kwok_version/kwok" "$tmp/bin/kwok"
for b in "${control_plane[@]}"; do link "$(k8s_dir "$k8s_version" control-plane)/$b" "$tmp/bin/$b"; done

for b in "${binaries[@]}"; do [[ -x "$tmp/bin/$b" ]] || die "build produced no $b"; done
got=$("$tmp/bin/kube-apiserver" --version)
[[ "$got" == "Kubernetes $k8s_version" ]] || die "kube-apiserver reports '$got', want 'Kubernetes $k8s_version' (version ldflags)"

printf 'k8s=%s\netcd=%s\nkwok=%s\nbuilt=%s\n' "$k8s_version" "$etcd_version" "$kwok_version" "$build_date" >"$tmp/bin/.complete"
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
log "done in $(($(date +%s) - start))s: $dest/bin ($(du -sh "$dest" | cut -f1))"
printf '%s\n' "$dest/bin"
