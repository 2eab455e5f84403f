#!/usr/bin/env bash
# Builds hybridcni/kube-router:<version>, the reference CNI image of the
# offline kind tier, with no registry: kube-router built from the Go module
# proxy (tools/kube-router) on a Debian base with iptables, ipset and
# iproute2 (debootstrap, shared with the node image's kube-proxy). Loads it
# into the local Docker engine and prints the tag. Cached like
# hack/node-image.sh; a second run with nothing changed only checks.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'kube-router-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=nodeimage/lib.sh
source "$repo/hack/nodeimage/lib.sh"

version=$(modversion "$repo/tools/kube-router/go.mod" github.com/cloudnativelabs/kube-router/v2)
tag=${KUBE_ROUTER_IMAGE_TAG:-hybridcni/kube-router:$version}
[[ "${1:-}" == --tag ]] && { printf '%s\n' "$tag"; exit 0; }

build_host

inputs=$( {
	printf '%s\n' "$version" "$suite" "${netbase_packages[@]}"
	cat "${BASH_SOURCE[0]}" "$repo/hack/nodeimage/lib.sh" "$repo/tools/kube-router/go.sum" "$repo/hack/nodeimage/imagetool/main.go"
} | sha256sum | cut -c1-16)
if [[ "${NODE_IMAGE_FORCE:-0}" != 1 ]] &&
	[[ "$(docker image inspect -f '{{index .Config.Labels "dev.hybridcni.image.inputs"}}' "$tag" 2>/dev/null)" == "$inputs" ]]; then
	log "up to date: $tag"
	printf '%s\n' "$tag"
	exit 0
fi

start=$(date +%s)
work=$(mktemp -d "$cache_root/node-image/.kube-router.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

gobuild "kube-router-$version" "$repo/tools/kube-router" \
	"-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$version -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=unknown" \
	github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
base=$(rootfs netbase "${netbase_packages[@]}")
(cd "$repo" && go build -o "$work/imagetool" ./hack/nodeimage/imagetool)
"$work/imagetool" archive --out "$work/kube-router.tar" --tag "$tag" --base "$base" \
	--file "$cache_root/node-image/bin/kube-router-$version/kube-router:/usr/local/bin/kube-router" \
	--entrypoint /usr/local/bin/kube-router \
	--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--label "dev.hybridcni.image.inputs=$inputs"
load_image "$work/kube-router.tar" "$tag"
log "done in $(($(date +%s) - start))s"
printf '%s\n' "$tag"
