#!/usr/bin/env bash
# Builds hybridcni/kube-router:<version>, the reference CNI image of the
# offline kind tier, with no registry: kube-router built from the Go module
# proxy (tools/kube-router), with the gobgp CLI, on a Debian base with iptables, ipset and
# iproute2 (debootstrap, shared with the node image's kube-proxy). Loads it
# into the local Docker engine and prints the tag. Cached like
# hack/node-image.sh; a second run with nothing changed only checks.
#
# Differences from upstream, on purpose and only these: hack/kube-router/*.patch
# (each says which upstream bug it mends).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'kube-router-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=nodeimage/lib.sh
source "$repo/hack/nodeimage/lib.sh"
# shellcheck source=nodeimage/module.sh
source "$repo/hack/nodeimage/module.sh"

version=$(modversion "$repo/tools/kube-router/go.mod" github.com/cloudnativelabs/kube-router/v2)
tag=${KUBE_ROUTER_IMAGE_TAG:-hybridcni/kube-router:$version}
[[ "${1:-}" == --tag ]] && { printf '%s\n' "$tag"; exit 0; }

build_host patch

inputs=$( {
	printf '%s\n' "$version" "$suite" "${netbase_packages[@]}"
	cat "${BASH_SOURCE[0]}" "$repo/hack/nodeimage/lib.sh" "$repo/hack/nodeimage/module.sh" "$repo/tools/kube-router/go.sum" \
		"$repo/hack/nodeimage/imagetool/main.go" "$repo"/hack/kube-router/*.patch
} | sha256sum | cut -c1-16)
if images_current "$tag"; then
	log "up to date: $tag"
	printf '%s\n' "$tag"
	exit 0
fi

start=$(date +%s)
build_workdir kube-router

# The patched module, built with the tools module's dependency versions.
src="$cache_root/kube-router/$version/src"
patched_module github.com/cloudnativelabs/kube-router/v2 "$version" "$src" : "$repo"/hack/kube-router/*.patch
mkdir "$work/tools"
cp "$repo"/tools/kube-router/{go.mod,go.sum,tools.go} "$work/tools/"
(cd "$work/tools" && go mod edit -replace "github.com/cloudnativelabs/kube-router/v2=$src")
# kube-router and the gobgp CLI of the GoBGP it embeds (upstream images carry it).
bin="kube-router-$version-$(cat "$repo/tools/kube-router/go.sum" - <<<"$patches_key" | sha256sum | cut -c1-12)"
gobuild "$bin" "$work/tools" \
	"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$version -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=unknown" \
	github.com/cloudnativelabs/kube-router/v2/cmd/kube-router github.com/osrg/gobgp/v3/cmd/gobgp
base=$(rootfs netbase "${netbase_packages[@]}")
(cd "$repo" && go build -o "$work/imagetool" ./hack/nodeimage/imagetool)
"$work/imagetool" archive --out "$work/kube-router.tar" --tag "$tag" --base "$base" \
	--file "$cache_root/node-image/bin/$bin/kube-router:/usr/local/bin/kube-router" \
	--file "$cache_root/node-image/bin/$bin/gobgp:/usr/local/bin/gobgp" \
	--entrypoint /usr/local/bin/kube-router \
	--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--label "$inputs_label=$inputs"
load_image "$work/kube-router.tar" "$tag"
log "done in $(($(date +%s) - start))s"
printf '%s\n' "$tag"
