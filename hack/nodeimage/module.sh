# Shared by hack/kube-router-image.sh and hack/cilium-image.sh (sourced, after
# lib.sh's build_host): CNI images built from patched Go modules. Needs log
# and die.

# inputs_label carries a hash of what an image was built from.
inputs_label=dev.hybridcni.image.inputs

# images_current TAG... is true when every TAG carries the label of this
# build's inputs ($inputs), unless NODE_IMAGE_FORCE=1.
images_current() {
	[[ "${NODE_IMAGE_FORCE:-0}" != 1 ]] || return 1
	local t
	for t in "$@"; do
		[[ "$(docker image inspect -f "{{index .Config.Labels \"$inputs_label\"}}" "$t" 2>/dev/null)" == "$inputs" ]] || return 1
	done
}

# build_workdir NAME sets work to a fresh folder in the cache, removed on exit.
build_workdir() {
	work=$(mktemp -d "$cache_root/node-image/.$1.XXXXXX")
	trap 'rootfs_stop; rm -rf "$work"' EXIT
	trap 'exit 130' INT TERM
}

# patched_module MODULE VERSION DEST HOOK PATCH... (needs work) makes DEST a writable copy
# of MODULE@VERSION from the Go module proxy, runs HOOK (a function, or :)
# inside it, then applies the patches. The copy is made again only when the
# patches change; patches_key (a hash of them) is set for build caches.
patched_module() {
	local module=$1 version=$2 dest=$3 hook=$4
	shift 4
	patches_key=$(cat /dev/null "$@" | sha256sum | cut -c1-16)
	[[ "$(cat "$dest/.ready" 2>/dev/null)" == "$patches_key" ]] && return 0
	log "fetch $module@$version from the Go module proxy"
	local mod f
	mod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d "$mod" ]] || die "the Go module proxy does not serve $module@$version: pick a served version"
	rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && cp -r "$mod" "$dest" && chmod -R u+w "$dest"
	(cd "$dest" && "$hook")
	for f in "$@"; do
		log "patch: ${f##*/}"
		patch -d "$dest" -p1 --forward --quiet <"$f" || die "${f##*/} does not apply to $module@$version"
	done
	printf '%s\n' "$patches_key" >"$dest/.ready"
}
