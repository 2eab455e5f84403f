#!/usr/bin/env bash
# Builds the Cilium agent and operator images of the offline kind tier with no
# registry, from the Cilium module the Go module proxy serves:
#   hybridcni/cilium:v<version>                   agent (cilium-agent, cilium-dbg,
#       cilium-health, cilium-cni, cilium-mount, cilium-sysctlfix, the BPF sources,
#       the chart's init scripts) on Debian with iptables, ipset, iproute2 and
#       clang and bpftool (the agent probes the kernel and compiles its datapath),
#       less what it never opens (agent_trim below)
#   hybridcni/cilium-operator-generic:v<version>  operator (generic IPAM) on
#       the CA bundle, passwd, group and /tmp alone (upstream's is scratch plus
#       the CA bundle)
# Every kind run saves both images and loads them into every node: small pays.
# fixtures/values/cilium-offline.yaml points the real chart at them, and the
# module's own chart is packaged into the cache's chart folder, so versions
# built here can be upgraded between. Prints the agent tag on stdout.
#
# Versions the proxy serves and this script builds: 1.16.19, 1.17.0, 1.18.0,
# 1.19.6, 1.20.2 (the proxy also serves 1.19.0 and 1.20.0, and refuses 1.16.18,
# 1.17.18 and 1.18.12).
#
# Differences from upstream images, on purpose and only these, per version:
#   all      no Envoy (the hybrid-nodes values disable it); no hubble CLI or gops;
#            clang/LLVM and bpftool from Debian bookworm, not Cilium's own LLVM build:
#            clang 16 for 1.16 and 1.17, clang 19 (19.1.7, the LLVM upstream ships
#            from 1.19) for 1.18 and later, whose BPF code wants LLVM >= 18.1.
#   1.16     Cilium's fork of k8s.io/apimachinery (v0.30.2-1, adds `omitzero` to its
#            converters) is not served, so upstream v0.30.2 replaces it.
#   1.16,1.17  hack/cilium/no-proc-modules.patch: this host's kernel has no loadable
#            modules, so no /proc/modules (1.18 dropped the package that read it).
#   1.20     two requirements the proxy does not serve are replaced: github.com/osrg/
#            gobgp/v4 v4.6.1-0.20260630022313-d6dee8360046 by v4.7.0 (released the same
#            day, after that commit), and sigs.k8s.io/mcs-api/controllers v0.5.2 (no
#            version of that module is served by tag) by the pseudo-version 1.19.6
#            requires, whose two identifiers Cilium uses are the same.
# The versions' own go.mod replacements (Cilium's gobgp/v3 fork in 1.16, 1.18 and
# 1.19, its controller-tools fork) are served and used as they are. Every version's
# module graph resolves with the Go here (go1.26; 1.20 asks for go 1.26.0 itself).
#
# Cached by version under ${HYBRIDCNI_CACHE:-$HOME/.cache/hybridcni}/cilium/
# (module copy, binaries; charts/ holds the packaged charts) and node-image/rootfs/ (Debian root filesystem); the
# images carry a hash of their inputs, so a run with nothing changed only checks.
#
# Usage: hack/cilium-image.sh [--tag]
# Environment: CILIUM_VERSION (default 1.16.19), HYBRIDCNI_CACHE, NODE_IMAGE_BUILD_P,
#   NODE_IMAGE_FORCE=1, DEBIAN_MIRROR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'cilium-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=nodeimage/lib.sh
source "$repo/hack/nodeimage/lib.sh"
# shellcheck source=nodeimage/module.sh
source "$repo/hack/nodeimage/module.sh"

version=${CILIUM_VERSION:-1.16.19}
version=${version#v}
agent_tag=hybridcni/cilium:v$version
operator_tag=hybridcni/cilium-operator-generic:v$version
[[ "${1:-}" == --tag ]] && { printf '%s\n' "$agent_tag"; exit 0; }

# The per-version departures of the header, as data.
minor=$(printf '%s' "$version" | cut -d. -f1,2)
case "$minor" in
1.16 | 1.17) llvm=16 patches=("$repo/hack/cilium/no-proc-modules.patch") replaces=() ;;
1.18 | 1.19) llvm=19 patches=() replaces=() ;;
1.20) llvm=19 patches=() replaces=(
	github.com/osrg/gobgp/v4=github.com/osrg/gobgp/v4@v4.7.0
	sigs.k8s.io/mcs-api/controllers=sigs.k8s.io/mcs-api/controllers@v0.0.0-20260403094305-4b9911b73f14
) ;;
*) die "Cilium $version: no build rule for minor $minor (add it to the table above)" ;;
esac

build_host patch
agent_packages=(iptables ipset iproute2 kmod ca-certificates bash coreutils util-linux mount grep procps
	"clang-$llvm" bpftool)
# Left out of the agent's root filesystem (tar --exclude patterns, anchored, `*`
# within one folder): translations and documentation, GCC's sanitizer and
# profiler runtimes, static libraries. The agent runs clang -c only (BPF objects,
# no link); the headers, LLVM and the shared libraries clang loads all stay.
agent_trim=(./usr/share/{locale,doc,man,info,lintian}
	'./usr/lib/*-linux-gnu/'{'*.a',gprofng,lib{asan,tsan,lsan,ubsan,hwasan,gprofng}'.so*'}
	'./usr/lib/gcc/*-linux-gnu/*/'{'*.a',lib{asan,tsan,lsan,ubsan,hwasan}'[._]*'})

inputs=$( {
	printf '%s\n' "$version" "$suite" "${agent_packages[@]}" "${agent_trim[@]}" "${replaces[@]}"
	cat "${BASH_SOURCE[0]}" "$repo/hack/nodeimage/lib.sh" "$repo/hack/nodeimage/module.sh" "$repo/hack/nodeimage/imagetool/main.go" "${patches[@]}" "$repo/hack/chartrepo/main.go"
} | sha256sum | cut -c1-16)
if images_current "$agent_tag" "$operator_tag" && [[ -f "$cache_root/cilium/charts/cilium-$version.tgz" ]]; then
	log "up to date: $agent_tag $operator_tag"
	printf '%s\n' "$agent_tag"
	exit 0
fi

start=$(date +%s)
build_workdir cilium

# The module, writable, with the replacements the proxy forces.
cdir="$cache_root/cilium/v$version"
src="$cdir/src"
# Cilium's apimachinery fork (1.16) is not served: the upstream release it forks.
# Then the version's replacements of unserved requirements (the table above).
unserved() {
	local fork r
	fork=$(sed -n 's#^[[:space:]]*k8s.io/apimachinery => github.com/cilium/apimachinery \(v[0-9.]*\)-[0-9]*$#\1#p' go.mod)
	if [[ -n "$fork" ]]; then
		log "k8s.io/apimachinery: upstream $fork in place of Cilium's unserved fork"
		go mod edit -replace "k8s.io/apimachinery=k8s.io/apimachinery@$fork" &&
			GOFLAGS=-mod=mod go mod download k8s.io/apimachinery
	fi
	for r in "${replaces[@]}"; do
		log "replace ${r%%=*} by ${r#*=} (not served as required)"
		go mod edit -replace "$r"
	done
	printf '%s\n' "${replaces[@]}" >.replaces
}
# A copy made with other replacements is made again.
[[ "$(cat "$src/.replaces" 2>/dev/null)" == "$(printf '%s\n' "${replaces[@]}")" ]] || rm -f "$src/.ready"
patched_module github.com/cilium/cilium "v$version" "$src" unserved "${patches[@]}"
patches=$patches_key

rootfs_start cilium "${agent_packages[@]}"

bin="$cdir/bin"
# The binaries are rebuilt when the patches or this build step change.
binkey=$( { printf '%s\n' "$patches" "${replaces[@]}"; sed -n '/^bin=/,/^fi$/p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
if [[ "$(cat "$bin/.complete" 2>/dev/null)" != "$binkey" ]]; then
	t0=$(date +%s)
	rm -rf "$bin.tmp" && mkdir -p "$bin.tmp"
	# "VERSION REVISION DATE", the three words Cilium's version parser wants.
	modtime=$(cd "$work" && go list -m -f '{{.Time.Format "2006-01-02T15:04:05Z07:00"}}' "github.com/cilium/cilium@v$version")
	ldflags="-s -w -X 'github.com/cilium/cilium/pkg/version.ciliumVersion=$version hybridcni-offline $modtime'"
	build() { # TAGS PACKAGE... into $bin.tmp, each binary named after its folder
		log "go build -tags $1 ${*:2}"
		(cd "$src" && GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false -trimpath" \
			nice -n 10 go build -p "$p" -tags "$1" -ldflags "$ldflags" -o "$bin.tmp/" "${@:2}")
	}
	# One go build for the agent image's binaries: the links run beside the
	# compiles instead of one after another with a core idle.
	build osusergo ./daemon ./cilium-dbg ./cilium-health ./cilium-health/responder ./plugins/cilium-cni ./tools/mount ./tools/sysctlfix
	build osusergo,ipam_provider_operator ./operator
	for b in daemon:cilium-agent responder:cilium-health-responder mount:cilium-mount sysctlfix:cilium-sysctlfix operator:cilium-operator-generic; do
		mv "$bin.tmp/${b%%:*}" "$bin.tmp/${b#*:}"
	done
	printf '%s\n' "$binkey" >"$bin.tmp/.complete"
	rm -rf "$bin" && mv "$bin.tmp" "$bin"
	log "built the Cilium binaries in $(($(date +%s) - t0))s"
fi

(cd "$repo" && go build -o "$work/imagetool" ./hack/nodeimage/imagetool)
env_path=PATH=/usr/lib/llvm-$llvm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

files=()
for b in cilium-agent cilium-dbg cilium-health cilium-health-responder cilium-mount cilium-sysctlfix; do
	files+=(--file "$bin/$b:/usr/bin/$b")
done
# The chart's init and preStop scripts (module zips keep no exec bits).
for s in images/cilium/init-container.sh plugins/cilium-cni/install-plugin.sh plugins/cilium-cni/cni-uninstall.sh; do
	install -m 0755 "$src/$s" "$work/${s##*/}"
	files+=(--file "$work/${s##*/}:/${s##*/}")
done
files+=(--file "$bin/cilium-cni:/opt/cni/bin/cilium-cni")
# The datapath sources the agent compiles at start (make install-bpf).
while IFS= read -r f; do
	files+=(--file "$src/bpf/$f:/var/lib/cilium/bpf/$f")
done < <(cd "$src/bpf" && find . -type f -printf '%P\n' | sort)

rootfs_wait cilium
base=$(rootfs cilium "${agent_packages[@]}")
# The cached root filesystem less agent_trim, unpacked and packed as rootfs does.
root="$work/agent-root"
mkdir -p "$root"
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' --anchored --no-wildcards-match-slash \
	"${agent_trim[@]/#/--exclude=}" -xf "$base"
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -cf "$work/agent-root.tar" .
log "agent root filesystem $(du -h "$base" | cut -f1) less agent_trim: $(du -h "$work/agent-root.tar" | cut -f1)"
"$work/imagetool" archive --out "$work/agent.tar" --tag "$agent_tag" --base "$work/agent-root.tar" "${files[@]}" \
	--entrypoint /usr/bin/cilium-dbg --env "$env_path" --env HUBBLE_SERVER=unix:///var/run/cilium/hubble.sock \
	--env INITSYSTEM=SYSTEMD --label "$inputs_label=$inputs"
# The operator, a static Go binary, needs no more than the CA bundle (the agent's
# Debian one), root in passwd and group, and /tmp.
oroot="$work/operator-root"
mkdir -p "$oroot/etc/ssl/certs" "$oroot/tmp"
chmod 1777 "$oroot/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$oroot/etc/passwd"
printf 'root:x:0:\n' >"$oroot/etc/group"
cp "$root/etc/ssl/certs/ca-certificates.crt" "$oroot/etc/ssl/certs/"
rm -rf "$root"
tar -C "$oroot" --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -cf "$work/operator-root.tar" .
"$work/imagetool" archive --out "$work/operator.tar" --tag "$operator_tag" --base "$work/operator-root.tar" \
	--file "$bin/cilium-operator-generic:/usr/bin/cilium-operator-generic" \
	--entrypoint /usr/bin/cilium-operator-generic --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--label "$inputs_label=$inputs"

load_image "$work/agent.tar" "$agent_tag"
load_image "$work/operator.tar" "$operator_tag"
# The module's own chart (the published one minus image digests), for
# upgrade runs between versions built here: --chart-repo $cache_root/cilium/charts.
# Built as `make build` builds hybridcni (CGO off, -trimpath), so the Helm and
# Kubernetes packages it compiled serve here too (cold otherwise: 2 min).
(cd "$repo" && CGO_ENABLED=0 go run -trimpath ./hack/chartrepo "$src/install/kubernetes/cilium" "$cache_root/cilium/charts" >/dev/null) ||
	die "cannot package the chart of Cilium $version"
log "chart cilium $version in $cache_root/cilium/charts"
log "done in $(($(date +%s) - start))s"
printf '%s\n' "$agent_tag"
